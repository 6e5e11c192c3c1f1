"""Index kinds the models declare beyond Django's own."""

from __future__ import annotations

from django.db import models


class BrinOnPostgresIndex(models.Index):
    """A BRIN index on PostgreSQL, a B-tree elsewhere (SQLite has no BRIN).

    For a column whose values rise with the rows' physical order (a moment of a record appended as it
    happens, or imported in date order): BRIN keeps the minimum and maximum of each range of 128 pages, a
    few kilobytes for millions of rows, so a million-row import updates it almost for free, where a B-tree
    gets a million insertions. A range query (a month of purchases) reads the matching ranges of pages. Rows
    appended out of order (a record of 1997 imported after 2025's) widen a few ranges: the index stays
    correct and the query reads a little more.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)
