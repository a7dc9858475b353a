"""Remembered answers for requests carrying an `Idempotency-Key` header.

The store already makes a retried request harmless: every event or signal of
such a request carries a source id derived from the key, so it is accepted
once. This cache adds the other half of the contract: a client retrying after
a lost response gets the very answer the first request got (in this process;
after a restart the answer is rebuilt from the store's deduplication and says
`"duplicate": true`). A key reused for a different request is refused.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status code and JSON body."""

    status: int
    body: dict[str, Any]


def fingerprint(*parts: str | bytes) -> str:
    """A digest of what a request asked for (route, path values, body)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class KeyReuseError(Exception):
    """An `Idempotency-Key` came back with a different request."""


class ReplyCache:
    """The last `capacity` answers by idempotency key (least recently used dropped)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, tuple[str, Reply]] = OrderedDict()

    def get(self, key: str, request_fingerprint: str) -> Reply | None:
        """The remembered answer for `key`, or None; raises `KeyReuseError` if
        `key` was used for a request with another fingerprint."""
        found = self._items.get(key)
        if found is None:
            return None
        seen_fingerprint, reply = found
        if seen_fingerprint != request_fingerprint:
            raise KeyReuseError(key)
        self._items.move_to_end(key)
        return reply

    def put(self, key: str, request_fingerprint: str, reply: Reply) -> None:
        """Remember the answer given to the first request with `key`."""
        self._items[key] = (request_fingerprint, reply)
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
