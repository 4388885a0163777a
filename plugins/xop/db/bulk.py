"""Set-based writes of many rows in one statement, on PostgreSQL and SQLite.

Hand-written because SQLAlchemy's executemany paths are per-row on the server side: on
PostgreSQL an ``UPDATE`` executemany is N statements, and ``insertmanyvalues`` builds one huge
``VALUES`` list that psycopg re-parses in Python. Here PostgreSQL gets one statement over
all rows sent as one JSON document (constant-size SQL, whatever the row count); SQLite, which
is in-process and fast per row, gets a plain executemany.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, Dialect, Table, TextClause, bindparam, text
from sqlalchemy.types import TypeDecorator, TypeEngine

_TIMES = (datetime, date)


def _pg_type(table: Table, name: str, conn: Connection) -> str:
    return _pg_type_of(table.c[name].type, conn.dialect)


@lru_cache(maxsize=1024)
def _pg_type_of(col_type: TypeEngine, dialect: Dialect) -> str:
    """The column type's SQL name, compiled once per type (not per row batch)."""
    if isinstance(col_type, TypeDecorator):
        col_type = col_type.impl_instance
    if isinstance(col_type, JSON):
        return "json"
    return col_type.compile(dialect=dialect)


@lru_cache(maxsize=1024)
def _text(sql: str) -> TextClause:
    """One :func:`text` per distinct statement: its parse of the bind names is paid once."""
    return text(sql)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to PostgreSQL as JSON")


def _pg_recordset(
    table: Table,
    cols: Sequence[str],
    rows: Sequence[dict[str, Any]],
    conn: Connection,
    json_default: Callable[[Any], Any] = _json_default,
    *,
    param: str = "rows",
):
    """All rows as ONE JSON parameter (named ``param``) expanded by ``json_to_recordset`` (typed
    columns, row order).

    One string parameter instead of one array per column: psycopg escapes array elements in
    Python one by one, which dominated the cost for thousands of rows of email context. Column
    values that are datetimes are turned into ISO text here, not by ``json.dumps``'s ``default``
    hook (a call back into Python per value from the C encoder, the larger cost); ``json_default``
    serves values nested in JSON columns.
    """
    keys = [f"c{i}" for i in range(len(cols))]
    iso: dict[Any, str] = {}  # most rows of a batch share their instants ("now"): formatted once

    def text_of(v: datetime | date) -> str:
        found = iso.get(v)
        if found is None:
            if type(v) is datetime and v.tzinfo is None:  # as UTCDateTime refuses it in SQL
                raise ValueError(f"naive datetime {v!r}: pass an aware datetime (UTC)")
            found = iso[v] = v.isoformat()
        return found

    payload = json.dumps(
        [
            {
                k: (text_of(v) if type(v) in _TIMES else v)
                for k, v in zip(keys, map(r.__getitem__, cols), strict=True)
            }
            for r in rows
        ],
        default=json_default,
    )
    defs = ", ".join(f"c{i} {_pg_type(table, c, conn)}" for i, c in enumerate(cols))
    names = ", ".join(f"c{i}" for i in range(len(cols)))
    source = (
        f"ROWS FROM (json_to_recordset(CAST(:{param} AS json)) AS ({defs}))"
        f" WITH ORDINALITY AS v({names}, ord)"
    )
    return {param: payload}, source


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    returning: str | None = None,
    skip_conflicts: bool = False,
    json_default: Callable[[Any], Any] = _json_default,
) -> list[Any]:
    """Insert ``rows`` (same keys each); with ``returning``, that column's values in row order.

    ``skip_conflicts`` drops rows that would violate a unique constraint (``ON CONFLICT DO
    NOTHING``); ``returning`` then lists only the inserted rows, in no particular order.
    ``json_default`` (PostgreSQL) turns values nested in JSON columns that ``json`` does not know
    into ones it does (default: datetimes and dates as ISO text).
    """
    if not rows:
        return []
    cols = list(rows[0])
    if conn.dialect.name != "postgresql":
        stmt = table.insert()
        if skip_conflicts:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).on_conflict_do_nothing()
        if returning is None:
            conn.execute(stmt, list(rows))
            return []
        stmt = stmt.returning(table.c[returning], sort_by_parameter_order=not skip_conflicts)
        return [r[0] for r in conn.execute(stmt, list(rows))]
    if len(rows) >= COPY_FROM_ROWS:
        return _pg_copy(conn, table, cols, rows, returning, json_default, skip_conflicts=skip_conflicts)
    params, source = _pg_recordset(table, cols, rows, conn, json_default)
    names = ", ".join(f"v.c{i}" for i in range(len(cols)))
    select = f"SELECT {names} FROM {source} ORDER BY v.ord"
    return _insert_select(conn, table, cols, select, params, returning, skip_conflicts=skip_conflicts)


def _insert_select(
    conn: Connection,
    table: Table,
    cols: Sequence[str],
    select: str,
    params: dict[str, Any],
    returning: str | None,
    *,
    skip_conflicts: bool,
    before: str = "",
) -> list[Any]:
    """``INSERT INTO table (cols) <select>`` (PostgreSQL), conflicts skipped if asked; ``before``:
    a ``WITH`` clause the statement starts with."""
    sql = f"{before}INSERT INTO {table.name} ({', '.join(cols)}) {select}"
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning is None:
        conn.execute(_text(sql), params)
        return []
    # One INSERT ... SELECT ... ORDER BY draws sequence values in that order: sorting the
    # returned keys restores the input order.
    return sorted(conn.execute(_text(sql + f" RETURNING {returning}"), params).scalars().all())


#: From this many rows an INSERT on PostgreSQL is a ``COPY FROM`` (one round trip of rows in the
#: copy format, no JSON to expand on the server; with ``skip_conflicts`` into a temporary table,
#: then one ``INSERT ... SELECT``); fewer go through ``json_to_recordset``, whose single statement
#: beats the extra round trips of a copy for a handful of rows.
COPY_FROM_ROWS = 200


def _pg_copy(
    conn: Connection,
    table: Table,
    cols: Sequence[str],
    rows: Sequence[dict[str, Any]],
    returning: str | None,
    json_default: Callable[[Any], Any],
    *,
    skip_conflicts: bool,
) -> list[Any]:
    """``insert_rows`` by ``COPY FROM`` on the connection's own transaction.

    Straight into the table: COPY returns nothing, so the ids a ``returning`` caller needs are
    drawn from the column's sequence first (one statement) and written with the rows, in row
    order. With ``skip_conflicts`` (COPY cannot skip a row): into a temporary table of the same
    columns (no index, no constraint, no WAL), then one ``INSERT ... SELECT ... ORDER BY ord ON
    CONFLICT DO NOTHING``, rather than the JSON path, which makes the server parse every row (a
    sweep's 10,000 email contexts) twice: as the document, then as ``json``. The temporary table
    is dropped before returning, and in any case at the end of the transaction, so a second call
    in the same transaction starts afresh.
    """
    if skip_conflicts:
        stage, names = f"xop_stage_{table.name}", ", ".join(cols)
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP"
            f" AS SELECT 0 AS ord, {names} FROM {table.name} WITH NO DATA"
        )
        _copy_into(conn, table, stage, cols, rows, json_default, lead=("ord", range(len(rows))))
        select = f"SELECT {names} FROM {stage} ORDER BY ord"
        ids = _insert_select(conn, table, cols, select, {}, returning, skip_conflicts=True)
        conn.exec_driver_sql(f"DROP TABLE {stage}")
        return ids
    ids: list[Any] = []
    if returning is not None:
        draw = text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)")
        ids = sorted(conn.execute(draw, {"t": table.name, "c": returning, "n": len(rows)}).scalars())
    lead = (returning, ids) if returning is not None else None
    _copy_into(conn, table, table.name, cols, rows, json_default, lead=lead)
    return ids


def _copy_into(
    conn: Connection,
    table: Table,
    target: str,
    cols: Sequence[str],
    rows: Sequence[dict[str, Any]],
    json_default: Callable[[Any], Any],
    *,
    lead: tuple[str, Sequence[Any]] | None = None,
) -> None:
    """COPY ``rows`` (values typed as ``table``'s columns) into ``target``; ``lead``: a first
    column and its value for each row (the pre-drawn ids, the staging order)."""

    def getter(c: str) -> Callable[[dict[str, Any]], Any]:
        col_type = table.c[c].type
        if _pg_type(table, c, conn) == "json":
            return lambda r: None if r[c] is None else json.dumps(r[c], default=json_default)
        if isinstance(col_type, TypeDecorator):  # e.g. UTCDateTime: naive times refused, as in SQL
            return lambda r: col_type.process_bind_param(r[c], conn.dialect)
        return lambda r: r[c]

    getters = [getter(c) for c in cols]
    names = ([lead[0]] if lead else []) + list(cols)
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {target} ({', '.join(names)}) FROM STDIN") as copy:
        if lead is None:
            for r in rows:
                copy.write_row([g(r) for g in getters])
        else:
            for i, r in zip(lead[1], rows, strict=True):
                copy.write_row([i, *(g(r) for g in getters)])


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: str = "id",
    pg_also: tuple[str, dict[str, Any]] | None = None,
) -> None:
    """``UPDATE table SET <other keys> WHERE key = row[key]`` for every row, in one statement.

    ``pg_also``: on PostgreSQL, one more ``SET`` item for every row, as SQL and its parameters
    (a column the table does not declare, such as the ticket's search words); SQLite ignores it.
    """
    if not rows:
        return
    cols = [key] + [c for c in rows[0] if c != key]
    if conn.dialect.name != "postgresql":
        stmt = (
            table.update()
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({c: bindparam(f"b_{c}") for c in cols[1:]})
        )
        conn.execute(stmt, [{f"b_{c}": r[c] for c in cols} for r in rows])
        return
    sql, params = _pg_update(conn, table, cols, rows, pg_also)
    conn.execute(_text(sql), params)


def _pg_update(
    conn: Connection,
    table: Table,
    cols: Sequence[str],
    rows: Sequence[dict[str, Any]],
    pg_also: tuple[str, dict[str, Any]] | None,
    *,
    param: str = "rows",
) -> tuple[str, dict[str, Any]]:
    """The ``UPDATE ... FROM json_to_recordset`` of :func:`update_rows` (key: ``cols[0]``)."""
    params, source = _pg_recordset(table, cols, rows, conn, param=param)
    sets = ", ".join(f"{c} = v.c{i}" for i, c in enumerate(cols) if i)
    if pg_also is not None:
        sets += f", {pg_also[0]}"
        params |= pg_also[1]
    return f"UPDATE {table.name} SET {sets} FROM {source} WHERE {table.name}.{cols[0]} = v.c0", params


def update_then_insert(
    conn: Connection,
    updated: Table,
    rows: Sequence[dict[str, Any]],
    inserted: Table,
    new_rows: Sequence[dict[str, Any]],
    *,
    pg_also: tuple[str, dict[str, Any]] | None = None,
    returning: str | None = None,
) -> list[Any]:
    """:func:`update_rows` of ``rows`` (by ``id``), then :func:`insert_rows` of ``new_rows``;
    returns what the insert returns.

    On PostgreSQL, when there are both and the new rows are fewer than :data:`COPY_FROM_ROWS`
    (a service action's clocks, a ticket and its event), one statement: ``WITH (UPDATE ...)
    INSERT ...``, one round trip instead of two. Both parts see the database as it was before
    the statement (neither reads what the other writes); the inserted rows' statement triggers
    run after the whole statement, so they see the update.
    """
    if conn.dialect.name != "postgresql" or not rows or not 0 < len(new_rows) < COPY_FROM_ROWS:
        update_rows(conn, updated, rows, pg_also=pg_also)
        return insert_rows(conn, inserted, new_rows, returning=returning)
    ucols = ["id"] + [c for c in rows[0] if c != "id"]
    usql, params = _pg_update(conn, updated, ucols, rows, pg_also, param="updated")
    cols = list(new_rows[0])
    inserting, source = _pg_recordset(inserted, cols, new_rows, conn, param="inserted")
    names = ", ".join(f"v.c{i}" for i in range(len(cols)))
    select = f"SELECT {names} FROM {source} ORDER BY v.ord"
    return _insert_select(
        conn,
        inserted,
        cols,
        select,
        params | inserting,
        returning,
        skip_conflicts=False,
        before=f"WITH xop_updated AS ({usql}) ",
    )


def in_ids(column: ColumnElement, ids: Iterable[int], conn: Connection) -> ColumnElement[bool]:
    """``column IN ids`` as one array parameter on PostgreSQL (constant-size SQL), else IN."""
    values = list(ids)
    if conn.dialect.name == "postgresql":
        from sqlalchemy import BigInteger, any_
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, values, type_=ARRAY(BigInteger)))
    return column.in_(values)
