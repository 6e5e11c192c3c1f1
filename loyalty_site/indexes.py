"""Index kinds the models declare beyond Django's own."""

from __future__ import annotations

from django.db import models
from django.db.models import OrderBy


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


class NullsOrderedIndex(models.Index):
    """An index of expressions whose NULLS FIRST / LAST ordering is kept on PostgreSQL and dropped elsewhere
    (SQLite refuses it in an index).

    PostgreSQL serves `ORDER BY x DESC NULLS LAST` (and, scanning backwards, `ASC NULLS FIRST`) from an index
    only when the index is ordered the same way, even for a NOT NULL column.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = models.Index(
            *[
                OrderBy(expression.expression, descending=expression.descending)
                if isinstance(expression, OrderBy)
                else expression
                for expression in self.expressions
            ],
            name=self.name,
        )
        return plain.create_sql(model, schema_editor, using=using, **kwargs)
