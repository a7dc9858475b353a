"""What an effect implementation is told about the call it serves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectContext:
    """Passed to every python effect (and override) as its second argument.

    `idempotency_key` is the same for every attempt of one call, across
    retries and restarts: use it to make the side effect happen once.
    """

    flow: str
    key: str
    effect: str
    call_id: str
    idempotency_key: str
    attempt: int
    """1 for the first attempt, 2 for the first retry, and so on."""
    callback_url: str | None = None
    callback_token: str | None = None


class EffectError(Exception):
    """Raise from a python effect to fail the attempt with a clear message.

    With `retryable=False` the call fails at once, whatever the retry policy
    says (e.g. "out of stock": trying again will not help).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
