"""Index kinds the models declare beyond Django's own."""

from __future__ import annotations

from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.backends.ddl_references import Statement
from django.db.models import ExpressionList, Func, OrderBy
from django.db.models.sql import Query


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


class TrigramOnPostgresIndex(models.Index):
    """A GIN index of the trigrams of each expression on PostgreSQL (pg_trgm's `gin_trgm_ops`); nothing elsewhere.

    It serves `LIKE '%ann%'` on the indexed expression, which no B-tree serves: without it every search by part
    of a name reads the whole table. The expression must be exactly the one the query compares: Django's
    `icontains` and `istartswith` compile to `UPPER(col::text) LIKE UPPER(...)` on PostgreSQL, so an index of
    `Upper("name")` serves `name__icontains` as Django writes it: the query, and so what it finds, is unchanged
    (the index is lossy and PostgreSQL checks every row it returns against the query). SQLite has no trigram
    index and reads its table as it always did, so no index is made there (the statements are empty): a SQLite
    database keeps the indexes it had. Needs the pg_trgm extension.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return Statement("")
        # Each expression in parentheses and its operator class after them, as PostgreSQL's grammar wants:
        # Index() would put the class inside the parentheses unless django.contrib.postgres were installed.
        expressions = ExpressionList(
            *[
                OpClass(Func(expression, template="(%(expressions)s)"), name="gin_trgm_ops")
                for expression in self.expressions
            ]
        ).resolve_expression(Query(model, alias_cols=False))
        return schema_editor._create_index_sql(
            model, name=self.name, using=" USING gin", expressions=expressions, **kwargs
        )

    def remove_sql(self, model, schema_editor, **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return Statement("")
        return super().remove_sql(model, schema_editor, **kwargs)
