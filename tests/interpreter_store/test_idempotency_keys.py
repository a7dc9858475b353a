"""An Idempotency-Key is bound, durably, to the first request's fingerprint."""

from __future__ import annotations

from flowyard.interpreter.store import Store
from store_backends import Backend


async def test_the_first_fingerprint_stays_bound(store: Store) -> None:
    assert await store.claim_idempotency_key("k", "first", 1) == "first"
    assert await store.claim_idempotency_key("k", "second", 2) == "first"
    assert await store.claim_idempotency_key("k", "first", 3) == "first"
    assert await store.claim_idempotency_key("other", "second", 4) == "second"


async def test_the_binding_survives_reopening(backend: Backend) -> None:
    store = await backend.open()
    await store.claim_idempotency_key("k", "first", 1)
    await store.close()
    store = await backend.open()
    try:
        assert await store.claim_idempotency_key("k", "second", 2) == "first"
    finally:
        await store.close()
