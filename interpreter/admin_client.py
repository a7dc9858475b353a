"""A small client of a running flowd's HTTP API, for the admin commands.

The bearer token comes from `--token` or the `FLOWD_TOKEN` environment
variable; errors come back as `AdminError` with the server's reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

TOKEN_VARIABLE = "FLOWD_TOKEN"


class AdminError(Exception):
    """The server refused the request, or could not be reached: a message for people."""


def error_text(status: int, text: str) -> str:
    """A server's error answer as one line: RFC 9457 problem details, the older
    `{"error", "detail"}` shape, or the raw text."""
    try:
        answer = json.loads(text)
    except ValueError:
        return f"{status} {text.strip()[:200]}"
    if not isinstance(answer, dict):
        return f"{status} {text.strip()[:200]}"
    title = answer.get("title") or answer.get("error") or "error"
    detail = answer.get("detail")
    if detail in (None, ""):
        return f"{status} {title}"
    if not isinstance(detail, str):
        detail = json.dumps(detail, ensure_ascii=False)
    return f"{status} {title}: {detail}"


class FlowdClient:
    """Requests to the flowd at `url` (e.g. http://127.0.0.1:8080)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_VARIABLE)

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json, application/problem+json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The parsed JSON answer of a 2xx reply; `AdminError` otherwise."""
        import aiohttp
        from yarl import URL

        query = {k: str(v) for k, v in (params or {}).items()}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
                session.request(
                    method,
                    URL(self.url + path, encoded=True),
                    params=query,
                    json=body,
                    headers=self._headers(headers),
                ) as response,
            ):
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise AdminError(
                f"cannot reach flowd at {self.url}: {exc or type(exc).__name__}"
            ) from None
        if status >= 400:
            raise AdminError(error_text(status, text))
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise AdminError(f"{status}: the answer is not JSON: {text[:200]}") from None

    @staticmethod
    def path(*segments: str) -> str:
        """`/a/b/c` with each segment percent-encoded (keys may hold `/` or spaces)."""
        from urllib.parse import quote

        return "".join("/" + quote(segment, safe="") for segment in segments)

    async def get(self, path: str, **params: str | int) -> Any:
        """GET `path` with query `params`."""
        return await self.request("GET", path, params=params)

    async def post(
        self, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        """POST JSON `body` to `path`."""
        return await self.request("POST", path, body=body, headers=headers)
