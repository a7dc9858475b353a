"""The ingress bounds its connections: idle and half-sent ones are closed, one
over the limit is refused, and a client hanging up is no error."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from flowyard.interpreter.http import bind_socket, create_app
from flowyard.interpreter.http.connections import ConnectionLimits
from flowyard.interpreter.http.ingress import serve
from http_helpers import Harness

LIMITS = ConnectionLimits(max_connections=3, idle_timeout_s=0.3, body_timeout_s=0.3)
HEAD = b"POST /events/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.fixture
async def server(h: Harness) -> AsyncIterator[tuple[web.AppRunner, int]]:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    runner = await serve(create_app(h.runtime, limits=LIMITS), sock)
    yield runner, port
    await runner.cleanup()


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 10)


async def test_a_connection_that_never_finishes_its_headers_is_closed(
    server: tuple[web.AppRunner, int],
) -> None:
    reader, writer = await _open(server[1])
    writer.write(b"POST /events/things HTTP/1.1\r\nHost: x\r\n")
    assert await _closed_by_server(reader) == b""
    writer.close()


async def test_a_body_that_stops_half_way_is_a_408(server: tuple[web.AppRunner, int]) -> None:
    reader, writer = await _open(server[1])
    writer.write(HEAD + b"Content-Length: 100\r\n\r\n" + b'{"type": "cr')
    answer = await _closed_by_server(reader)
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer
    writer.close()


async def test_one_connection_over_the_limit_is_refused(
    server: tuple[web.AppRunner, int],
) -> None:
    runner, port = server
    held = [await _open(port) for _ in range(LIMITS.max_connections)]
    assert runner.server is not None
    for _ in range(500):
        if len(runner.server.connections) == LIMITS.max_connections:
            break
        await asyncio.sleep(0.01)
    reader, writer = await _open(port)
    answer = await _closed_by_server(reader)
    assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\nContent-Type: application/problem+json\r\n" in head
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "too many connections",
        "status": 503,
        "detail": "flowd holds as many connections as it may; retry in a moment",
        "error": "too many connections",
    }
    writer.close()
    for _, held_writer in held:
        held_writer.close()


async def test_a_client_hanging_up_mid_body_is_no_error(
    server: tuple[web.AppRunner, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flowyard.http")
    for _ in range(3):
        _, writer = await _open(server[1])
        writer.write(HEAD + b"Content-Length: 100\r\n\r\n" + b'{"type": "cr')
        await writer.drain()
        writer.close()
    for _ in range(500):
        if caplog.text.count("client went away") == 3:
            break
        await asyncio.sleep(0.01)
    assert caplog.text.count("client went away") == 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
