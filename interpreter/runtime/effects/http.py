"""HTTP effects: one JSON request per attempt, with the call's idempotency key.

The result bound into data is `{status, headers, body}`; `body` is parsed JSON
when the response says it is JSON, else text. A status of 400 or above fails
the attempt; whether it is retried is the retry policy's business (`5xx`,
`429`, ... in `retry_on`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ... import jsontext, storable
from .context import EffectError
from .retry import AttemptFailure


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """A rendered request: the effect's templates evaluated for one call."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


class HttpStatusError(Exception):
    """An attempt answered with a failing status; carries the response for the journal."""

    def __init__(self, status: int, response: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.response = response

    def to_failure(self) -> AttemptFailure:
        return AttemptFailure(kind="status", message=f"HTTP {self.status}", status=self.status)


MAX_CONNECTIONS = 256
MAX_CONNECTIONS_PER_HOST = 32
"""One slow service cannot take every connection: calls to a host past this
many wait for one of its connections (the others' hosts are not held up)."""


class HttpEffectRunner:
    """Sends rendered requests through one shared aiohttp session: a pool of at
    most `max_connections`, `per_host` of them to any one host."""

    def __init__(
        self, max_connections: int = MAX_CONNECTIONS, per_host: int = MAX_CONNECTIONS_PER_HOST
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._max_connections = max_connections
        self._per_host = per_host

    async def send(
        self,
        request: HttpRequest,
        idempotency_key: str,
        max_body_bytes: int = storable.Bounds().max_result_bytes,
    ) -> dict[str, Any]:
        """Send `request`; return `{status, headers, body}` or raise.

        Raises HttpStatusError for status >= 400, aiohttp.ClientError (or
        OSError) when the connection fails, and EffectError (not retried) for a
        response body over `max_body_bytes`.
        """
        session = self._ensure_session()
        headers = {str(k): str(v) for k, v in request.headers.items()}
        headers["Idempotency-Key"] = idempotency_key
        data: bytes | None = None
        if request.body is not None:
            if isinstance(request.body, str) and not _is_json_content(headers):
                data = request.body.encode()
            else:
                data = json.dumps(request.body).encode()
                headers.setdefault("Content-Type", "application/json")
        async with session.request(request.method, request.url, data=data, headers=headers) as rsp:
            raw = await rsp.content.read(max_body_bytes + 1)
            if len(raw) > max_body_bytes:
                raise EffectError(
                    f"the response body is larger than {max_body_bytes:,} bytes "
                    "(flowd run --max-result-bytes)",
                    retryable=False,
                )
            text = raw.decode(rsp.charset or "utf-8", errors="replace")
            body: Any = text
            if rsp.content_type == "application/json" or rsp.content_type.endswith("+json"):
                try:
                    body = jsontext.loads(text) if text else None
                except ValueError:
                    body = text
            # Header values are decoded with surrogate escapes: kept as storable text.
            response_headers = {
                storable.clean_text(name): storable.clean_text(value)
                for name, value in rsp.headers.items()
            }
            response = {"status": rsp.status, "headers": response_headers, "body": body}
        if rsp.status >= 400:
            raise HttpStatusError(rsp.status, response)
        return response

    async def close(self) -> None:
        """Close the shared session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Timeouts are enforced by the effect runner through the Clock.
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=self._per_host
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None)
            )
        return self._session


def _is_json_content(headers: Mapping[str, str]) -> bool:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return "json" in value.lower()
    return False
