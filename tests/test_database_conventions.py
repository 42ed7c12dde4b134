"""How obs reads a statement for the stable database conventions: the operation in upper case and, for a
single-table statement, the collection; nothing from the values in it."""

from __future__ import annotations

import pytest
from obs.agent._integrations.database import describe


@pytest.mark.parametrize(("statement", "operation", "collection"), [
    ("select name from items where id = %s", "SELECT", "items"),
    ("SELECT count(*) FROM public.orders", "SELECT", "public.orders"),
    ('SELECT * FROM "Order Lines"', "SELECT", "Order Lines"),
    ("SELECT * FROM `orders` WHERE id = 1", "SELECT", "orders"),
    ("SELECT * FROM (SELECT 1) AS sub", "SELECT", None),
    ('SELECT * FROM "orders"', "SELECT", "orders"),
    ("INSERT INTO items (id, name) VALUES (1, 'x')", "INSERT", "items"),
    ("update items set name = 'secret' where id = 2", "UPDATE", "items"),
    ("DELETE FROM items WHERE id = 3", "DELETE", "items"),
    ("CREATE TABLE IF NOT EXISTS items (id int)", "CREATE", "items"),
    ("/* app=shop */ SELECT 1", "SELECT", None),
    ("-- a comment\nSELECT id FROM items", "SELECT", "items"),
    ("show transaction isolation level", "SHOW", None),
    ("BEGIN", "BEGIN", None),
    ("COMMIT;", "COMMIT", None),
    ("SELECT 'sent from alice' AS note", "SELECT", None),  # a table named inside a literal is no table
    ("SELECT concat('a from b', name) FROM items", "SELECT", "items"),
    ("SELECT $$ from x $$ FROM items", "SELECT", "items"),
])
def test_operation_and_collection_come_from_the_statement(
    statement: str, operation: str, collection: str | None
) -> None:
    """The first keyword, upper-cased, is the operation; the table after FROM/INTO/UPDATE/TABLE is the
    collection (quotes dropped; none when the statement names no single plain table)."""
    described = describe(statement)
    assert described["db.operation.name"] == operation
    assert described.get("db.collection.name") == collection


def test_an_empty_statement_describes_nothing() -> None:
    """No keyword, no attributes (contrib names the span after the database then)."""
    assert describe("   ") == {}
