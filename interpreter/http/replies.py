"""Requests carrying an `Idempotency-Key`: one request per key, answered alike.

The store already makes a retried request harmless: every event or signal of
such a request carries a source id derived from the key, so it is accepted
once. On top of that:

- the key is bound durably (`Store.claim_idempotency_key`) to the fingerprint
  of the first request that used it, before that request's input is stored:
  a different request under a known key is a 422, also after a restart;
- requests under one key are served one at a time (`IdempotentRequests.hold`),
  so racing requests cannot both pass the check;
- a retry gets the very answer the first request got, from a cache bounded in
  entries and in bytes (once evicted, or after a restart, the answer is rebuilt
  from the store's deduplication and says `"duplicate": true`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .. import storable
from ..store import Store


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
    """The last answers by idempotency key, least recently used dropped first,
    within `capacity` entries and `max_bytes` of JSON; an answer larger than
    `max_reply_bytes` is not kept (its retry gets the rebuilt answer)."""

    def __init__(
        self,
        capacity: int = 10_000,
        *,
        max_bytes: int = 32 * 1024 * 1024,
        max_reply_bytes: int = 256 * 1024,
    ) -> None:
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._max_reply_bytes = max_reply_bytes
        self._items: OrderedDict[str, tuple[str, Reply, int]] = OrderedDict()
        self.bytes = 0
        """JSON bytes of the answers kept."""

    def get(self, key: str, request_fingerprint: str) -> Reply | None:
        """The remembered answer for `key`, or None; raises `KeyReuseError` if
        `key` was used for a request with another fingerprint."""
        found = self._items.get(key)
        if found is None:
            return None
        seen_fingerprint, reply, _ = found
        if seen_fingerprint != request_fingerprint:
            raise KeyReuseError(key)
        self._items.move_to_end(key)
        return reply

    def put(self, key: str, request_fingerprint: str, reply: Reply) -> None:
        """Remember the answer given to the first request with `key`."""
        size = storable.encoded_size(reply.body)
        self._drop(key)
        if size > self._max_reply_bytes:
            return
        self._items[key] = (request_fingerprint, reply, size)
        self.bytes += size
        while len(self._items) > self._capacity or self.bytes > self._max_bytes:
            self._drop(next(iter(self._items)))

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, key: str) -> None:
        found = self._items.pop(key, None)
        if found is not None:
            self.bytes -= found[2]


class HeldKey:
    """One request's turn with its key (see `IdempotentRequests.hold`)."""

    def __init__(
        self, owner: IdempotentRequests, key: str | None, request_fingerprint: str
    ) -> None:
        self._owner = owner
        self._key = key
        self._fingerprint = request_fingerprint
        self.reply: Reply | None = None
        """The answer a request with this key already got, if it is remembered."""

    async def claim(self) -> None:
        """Bind the key to this request durably, before its input is stored;
        `KeyReuseError` if it is bound to another request."""
        if self._key is None:
            return
        bound = await self._owner.store.claim_idempotency_key(
            self._key, self._fingerprint, self._owner.now_ms()
        )
        if bound != self._fingerprint:
            raise KeyReuseError(self._key)

    def remember(self, reply: Reply) -> Reply:
        """Keep `reply` for retries of this request; returns it."""
        if self._key is not None:
            self._owner.cache.put(self._key, self._fingerprint, reply)
        return reply


class IdempotentRequests:
    """Serialises requests per `Idempotency-Key` and checks their fingerprints."""

    def __init__(self, store: Store, now_ms: Callable[[], int], cache: ReplyCache) -> None:
        self.store = store
        self.now_ms = now_ms
        self.cache = cache
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str | None, request_fingerprint: str) -> AsyncIterator[HeldKey]:
        """The turn of a request with `key` (None: no key, nothing held).
        `held.reply` is set when the answer is remembered; raises `KeyReuseError`
        when the cache knows the key for another request."""
        held = HeldKey(self, key, request_fingerprint)
        if key is None:
            yield held
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                held.reply = self.cache.get(key, request_fingerprint)
                yield held
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
