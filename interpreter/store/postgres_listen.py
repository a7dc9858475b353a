"""Hearing of inbox rows other processes stored: `LISTEN` on the schema's channel.

A connection of its own LISTENs on the schema's inbox channel (see
`postgres_partitions.py` for what is sent); each notification not sent by this
store is handed to the callback as `(partition, [(flow, key), ...])`. A lost
connection is opened again (logged; notifications sent meanwhile are lost,
which `on_reconnect` lets the caller make up for by reading the inboxes); the
connection is also probed now and then, since a silently dead one would never
say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from .base import StoreError
from .postgres_commit import Connection
from .postgres_partitions import decode_notification

log = logging.getLogger("flowyard.store.listen")

InboxCallback = Callable[[int, list[tuple[str, str]]], None]
"""Told a partition and the `(flow, key)`s of inbox rows stored for it elsewhere."""

PROBE_INTERVAL_S = 10.0
PROBE_TIMEOUT_S = 5.0
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
_CONNECTION_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class InboxListener:
    """One LISTEN connection, kept open until `close`."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        channel: str,
        owner_id: str,
        callback: InboxCallback,
        on_reconnect: Callable[[], None] | None = None,
        where: str = "the store",
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._owner_id = owner_id
        self._callback = callback
        self._on_reconnect = on_reconnect
        self._where = where
        self._conn: Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Listen; returns once notifications committed from now on will be heard."""
        try:
            await self._listen()
        except _CONNECTION_ERRORS as error:
            raise StoreError(f"{self._where}: cannot listen for inbox rows: {error}") from error
        self._task = asyncio.create_task(self._keep_listening(), name="flowd-inbox-listener")

    async def close(self) -> None:
        """Stop listening and close the connection (idempotent)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._drop_connection()

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            await conn.add_listener(self._channel, self._received)
        except BaseException:
            conn.terminate()
            raise
        self._lost.clear()
        conn.add_termination_listener(self._terminated)
        self._conn = conn

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            sender, partition, keys = decode_notification(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored an inbox notification that is not flowd's: %.200r", payload)
            return
        if sender == self._owner_id:
            return
        try:
            self._callback(partition, keys)
        except Exception:
            log.exception("the inbox notification callback failed")

    def _terminated(self, _conn: Any) -> None:
        self._lost.set()

    async def _keep_listening(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), PROBE_INTERVAL_S)
            if not self._lost.is_set() and await self._answers():
                continue
            log.warning("%s: the inbox listener lost its connection; reconnecting", self._where)
            await self._drop_connection()
            await self._reconnect()

    async def _answers(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await conn.fetchval("SELECT 1", timeout=PROBE_TIMEOUT_S)
        except _CONNECTION_ERRORS:
            return False
        return True

    async def _reconnect(self) -> None:
        delay = RETRY_FIRST_S
        while not self._closed:
            try:
                await self._listen()
            except _CONNECTION_ERRORS as error:
                log.warning(
                    "%s: the inbox listener cannot reconnect (%s); again in %.1f s",
                    self._where,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            log.info("%s: the inbox listener is listening again", self._where)
            if self._on_reconnect is not None:
                try:
                    self._on_reconnect()
                except Exception:
                    log.exception("the inbox listener's on_reconnect callback failed")
            return

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.remove_termination_listener(self._terminated)
        if conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), PROBE_TIMEOUT_S)
        except Exception:
            conn.terminate()
