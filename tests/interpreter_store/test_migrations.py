"""Schema migrations on open, and the per-database callback secret (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from flowyard.interpreter.store import (
    ConflictError,
    DeadLetter,
    NewEffectCall,
    PostgresStore,
    SQLiteStore,
    StepCommit,
    StoreError,
)
from flowyard.interpreter.store import postgres_schema as pg_schema
from flowyard.interpreter.store.sqlite_schema import SCHEMA_VERSION, migrate, schema_version
from store_backends import Backend

CommitFor = Callable[..., StepCommit]


def at_version(db_path: Path, version: int) -> sqlite3.Connection:
    """A new database migrated up to `version` only (autocommit)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, target=version)
    return conn


def test_fresh_database_is_at_the_current_version(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert schema_version(conn) == 0
    assert migrate(conn) == 0
    assert schema_version(conn) == SCHEMA_VERSION
    assert migrate(conn) == SCHEMA_VERSION
    conn.close()


async def test_an_old_database_is_migrated_and_keeps_its_data(
    db_path: Path, commit_for: object
) -> None:
    conn = at_version(db_path, 1)
    conn.execute(
        "INSERT INTO instances VALUES ('orders', 'a', 'h', 3, 'paid', 'active', '{\"x\":1}', 5)"
    )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "effect_calls" not in tables
    conn.close()

    async with await SQLiteStore.open(db_path) as store:
        old = await store.load_instance("orders", "a")
        assert old is not None and (old.seq, old.snapshot) == (3, {"x": 1})
        assert callable(commit_for)
        commit: StepCommit = commit_for(
            "a",
            3,
            effect_calls=(NewEffectCall(call_id="c", effect="e", request={}, idempotency_key="i"),),
        )
        await store.commit(commit)
        assert [c.call_id for c in await store.effect_calls("pending")] == ["c"]

    conn = sqlite3.connect(db_path)
    assert schema_version(conn) == SCHEMA_VERSION
    conn.close()


async def test_dead_letters_of_version_3_have_no_record_key_after_migrating(
    db_path: Path,
) -> None:
    conn = at_version(db_path, 3)
    conn.execute(
        "INSERT INTO dead_letters (source, topic, reason, payload, at_ms) "
        "VALUES ('kafka:t:0@4', 't', 'not JSON', '{', 1)"
    )
    conn.close()
    async with await SQLiteStore.open(db_path) as store:
        letter = DeadLetter(
            source="kafka:t:0@5", topic="t", reason="r", payload="{", at_ms=2, record_key=b"k"
        )
        await store.dead_letter(letter)
        assert [d.record_key for d in await store.dead_letters()] == [None, b"k"]


async def test_a_journal_of_version_4_is_linked_per_instance_after_migrating(
    db_path: Path, commit_for: CommitFor
) -> None:
    conn = at_version(db_path, 4)
    for key, seq in [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]:
        conn.execute(
            "INSERT INTO journal (flow, key, seq, input, trace, at_ms) "
            "VALUES (?, ?, ?, ?, '{}', 1)",
            ("orders", key, seq, f'{{"n":{seq}}}'),
        )
    for key, seq in [("a", 3), ("b", 2)]:
        conn.execute(
            "INSERT INTO instances VALUES ('orders', ?, 'h', ?, 'open', 'active', '{}', 1)",
            (key, seq),
        )
    conn.close()

    async with await SQLiteStore.open(db_path) as store:
        assert [j.input for j in await store.journal("orders", "a")] == [
            {"n": 0},
            {"n": 1},
            {"n": 2},
        ]
        assert [j.seq for j in await store.journal("orders", "b", after_seq=0)] == [1]
        with pytest.raises(ConflictError, match="of orders/a is already stored"):
            await store.commit(commit_for("a", 2))
        await store.commit(commit_for("a", 3))
        assert [j.seq for j in await store.journal("orders", "a", after_seq=1)] == [2, 3]

    conn = sqlite3.connect(db_path)
    linked = conn.execute("SELECT id, key, seq, prev_id FROM journal ORDER BY id").fetchall()
    assert linked == [
        (1, "a", 0, None),
        (2, "b", 0, None),
        (3, "a", 1, 1),
        (4, "b", 1, 2),
        (5, "a", 2, 3),
        (6, "a", 3, 5),
    ]
    indexes = conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'journal'").fetchall()
    assert indexes == [("journal",)]
    conn.close()


async def test_the_status_index_of_version_5_leaves_out_active_instances_after_migrating(
    db_path: Path, commit_for: CommitFor
) -> None:
    conn = at_version(db_path, 5)
    for key, status in [("a", "active"), ("b", "completed"), ("c", "incident"), ("d", "active")]:
        conn.execute(
            "INSERT INTO instances VALUES ('orders', ?, 'h', 1, 'open', ?, '{}', 1, NULL)",
            (key, status),
        )
    conn.close()

    async with await SQLiteStore.open(db_path) as store:
        await store.commit(commit_for("d", 1, status="cancelled"))
        by_status = {
            status: [i.key for i in await store.instances("orders", status=status)]
            for status in ("active", "completed", "incident", "cancelled", "running")
        }
    assert by_status == {
        "active": ["a"],
        "completed": ["b"],
        "incident": ["c"],
        "cancelled": ["d"],
        "running": [],
    }

    conn = sqlite3.connect(db_path)
    (index,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'instances_by_status'"
    ).fetchone()
    assert index.endswith("WHERE status <> 'active'")
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT key FROM instances "
        "WHERE status = 'completed' AND status <> 'active'"
    ).fetchall()
    assert any("instances_by_status" in str(step) for step in plan)
    conn.close()


async def test_instances_of_version_6_keep_their_snapshots_after_migrating(
    db_path: Path, commit_for: CommitFor
) -> None:
    conn = at_version(db_path, 6)
    for key, ir_hash, state, status, snapshot in [
        ("a", "h2", "open", "active", '{"x":1}'),
        ("b", "h1", "paid", "completed", '{"y":[1,2]}'),
        ("c", "h2", "open", "incident", "{}"),
    ]:
        conn.execute(
            "INSERT INTO instances VALUES ('orders', ?, ?, 1, ?, ?, ?, 5, NULL)",
            (key, ir_hash, state, status, snapshot),
        )
    conn.close()

    async with await SQLiteStore.open(db_path) as store:
        rows = {r.key: r for r in await store.instances("orders")}
        assert {k: (r.ir_hash, r.state, r.status, r.snapshot) for k, r in rows.items()} == {
            "a": ("h2", "open", "active", {"x": 1}),
            "b": ("h1", "paid", "completed", {"y": [1, 2]}),
            "c": ("h2", "open", "incident", {}),
        }
        assert [r.key for r in await store.instances("orders", status="incident")] == ["c"]
        assert [r.key for r in await store.instances("orders", state="open")] == ["a", "c"]
        await store.commit(commit_for("a", 1))
        row = await store.load_instance("orders", "a")
        assert row is not None and (row.ir_hash, row.seq) == ("ir-1", 2)

    conn = sqlite3.connect(db_path)
    names = conn.execute("SELECT ir_hash FROM ir_names ORDER BY id").fetchall()
    assert names == [("h1",), ("h2",), ("ir-1",)]
    indexes = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'instances' "
            "AND sql IS NOT NULL"
        )
    }
    assert indexes == {"instances_by_status", "instances_by_state"}
    conn.close()


async def test_a_newer_database_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn)
    conn.execute(
        "UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await SQLiteStore.open(db_path)


async def test_the_callback_secret_is_random_and_kept(tmp_path: Path) -> None:
    async with await SQLiteStore.open(tmp_path / "one.db") as one:
        secret = one.callback_secret
        assert len(secret) == 32
    async with await SQLiteStore.open(tmp_path / "one.db") as again:
        assert again.callback_secret == secret
    async with await SQLiteStore.open(tmp_path / "two.db") as two:
        assert two.callback_secret != secret


async def test_open_sets_wal_and_refuses_bad_settings(db_path: Path) -> None:
    async with await SQLiteStore.open(db_path, synchronous="OFF"):
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError, match="synchronous"):
        await SQLiteStore.open(db_path, synchronous="SOMETIMES")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="file path"):
        await SQLiteStore.open(":memory:")


async def test_an_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        await SQLiteStore.open(tmp_path / "missing" / "flowd.db")


# --- PostgreSQL ---------------------------------------------------------------------


async def pg_connection(pg: Backend) -> Any:
    conn = await asyncpg.connect(pg.dsn)
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg.schema}"')
    await conn.execute(f'SET search_path TO "{pg.schema}"')
    return conn


async def test_postgres_fresh_database_is_at_the_current_version(pg: Backend) -> None:
    conn = await pg_connection(pg)
    try:
        assert await pg_schema.schema_version(conn) == 0
        assert await pg_schema.migrate(conn) == 0
        assert await pg_schema.schema_version(conn) == pg_schema.SCHEMA_VERSION
        assert await pg_schema.migrate(conn) == pg_schema.SCHEMA_VERSION
    finally:
        await conn.close()


async def test_postgres_old_database_is_migrated_and_keeps_its_data(
    pg: Backend, commit_for: CommitFor
) -> None:
    conn = await pg_connection(pg)
    try:
        await pg_schema.migrate(conn, target=1)
        await conn.execute(
            "INSERT INTO instances VALUES ('orders', 'a', 'h', 3, 'paid', 'active', '{\"x\":1}', 5)"
        )
        assert await conn.fetchval("SELECT to_regclass('partition_epochs')") is None
    finally:
        await conn.close()
    async with await pg.open() as store:
        old = await store.load_instance("orders", "a")
        assert old is not None and (old.seq, old.snapshot) == (3, {"x": 1})
        await store.commit(commit_for("a", 3))
        assert [j.seq for j in await store.journal("orders", "a")] == [3]
    conn = await pg_connection(pg)
    try:
        assert await pg_schema.schema_version(conn) == pg_schema.SCHEMA_VERSION
        assert await conn.fetchval("SELECT to_regclass('partition_epochs')") is not None
    finally:
        await conn.close()


async def test_postgres_dead_letters_of_version_4_have_no_record_key_after_migrating(
    pg: Backend,
) -> None:
    conn = await pg_connection(pg)
    try:
        await pg_schema.migrate(conn, target=4)
        await conn.execute(
            "INSERT INTO dead_letters (source, topic, reason, payload, at_ms) "
            "VALUES ('kafka:t:0@4', 't', 'not JSON', '{', 1)"
        )
    finally:
        await conn.close()
    async with await pg.open() as store:
        letter = DeadLetter(
            source="kafka:t:0@5", topic="t", reason="r", payload="{", at_ms=2, record_key=b"k"
        )
        await store.dead_letter(letter)
        assert [d.record_key for d in await store.dead_letters()] == [None, b"k"]


async def test_postgres_concurrent_opens_migrate_once(pg: Backend) -> None:
    stores = await asyncio.gather(*(pg.open() for _ in range(3)))
    try:
        secrets = {store.callback_secret for store in stores}
        assert len(secrets) == 1
    finally:
        for store in stores:
            await store.close()


async def test_postgres_newer_database_is_refused(pg: Backend) -> None:
    conn = await pg_connection(pg)
    try:
        await pg_schema.migrate(conn)
        await conn.execute(
            "UPDATE meta SET value = $1 WHERE name = 'schema_version'",
            str(pg_schema.SCHEMA_VERSION + 1),
        )
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="newer"):
        await pg.open()


async def test_postgres_callback_secret_is_random_and_kept_per_schema(pg: Backend) -> None:
    async with await pg.open() as one:
        secret = one.callback_secret
        assert len(secret) == 32
    async with await pg.open() as again:
        assert again.callback_secret == secret
    async with await pg.fresh().open() as other:
        assert other.callback_secret != secret


async def test_postgres_unreachable_server_is_a_store_error_without_password() -> None:
    with pytest.raises(StoreError, match=r"postgresql://flowd:\*\*\*@127\.0\.0\.1:1/x: cannot"):
        await PostgresStore.open("postgresql://flowd:secret@127.0.0.1:1/x")
