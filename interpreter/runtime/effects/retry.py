"""Retry policy of an effect: which failures retry, and how long to wait.

Randomness (jitter) lives here, in the shell, never in the core. The random
source is injectable so tests can pin it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FailureKind = Literal["timeout", "error", "status"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptFailure:
    """Why one attempt failed: it timed out, raised, or answered a bad HTTP status."""

    kind: FailureKind
    message: str
    status: int | None = None
    retryable: bool = True
    """False when the effect itself said that trying again cannot help."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """The IR's `retry` block: attempts count the first try too."""

    attempts: int = 3
    backoff_ms: int = 1000
    multiplier: float = 2.0
    max_backoff_ms: int = 60_000
    jitter: bool = False
    retry_on: tuple[str, ...] = field(default=("timeout", "error", "5xx", "429"))

    @classmethod
    def from_ir(cls, retry: Mapping[str, Any] | None) -> RetryPolicy:
        """Read an effect's `retry` object; missing fields take the IR defaults."""
        if not retry:
            return cls()
        default = cls()
        retry_on: Sequence[str] = retry.get("retry_on", default.retry_on)
        return cls(
            attempts=max(1, int(retry.get("attempts", default.attempts))),
            backoff_ms=max(0, int(retry.get("backoff_ms", default.backoff_ms))),
            multiplier=float(retry.get("multiplier", default.multiplier)),
            max_backoff_ms=max(0, int(retry.get("max_backoff_ms", default.max_backoff_ms))),
            jitter=bool(retry.get("jitter", default.jitter)),
            retry_on=tuple(str(word) for word in retry_on),
        )

    def should_retry(self, failure: AttemptFailure) -> bool:
        """True when `failure` is one of the kinds `retry_on` names."""
        if not failure.retryable:
            return False
        for word in self.retry_on:
            if failure.kind == "timeout" and word == "timeout":
                return True
            if failure.kind == "error" and word == "error":
                return True
            if failure.kind == "status" and failure.status is not None:
                if word == "5xx" and 500 <= failure.status <= 599:
                    return True
                if word == "4xx" and 400 <= failure.status <= 499:
                    return True
                if word.isdigit() and int(word) == failure.status:
                    return True
        return False

    def nominal_delay_ms(self, retry_number: int) -> int:
        """Delay before retry `retry_number` (1 = before the 2nd attempt), without jitter."""
        exponent = max(0, retry_number - 1)
        delay = self.backoff_ms * (self.multiplier**exponent)
        return int(min(delay, self.max_backoff_ms))

    def delay_ms(self, retry_number: int, rng: random.Random) -> int:
        """Delay before retry `retry_number`; with jitter, uniform in [d/2, d]."""
        delay = self.nominal_delay_ms(retry_number)
        if not self.jitter or delay <= 0:
            return delay
        return int(rng.uniform(delay / 2, delay))
