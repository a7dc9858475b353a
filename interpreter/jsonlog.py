"""`flowd run --log-format json`: one JSON object per line on stderr.

A line per committed transition step and per failed effect attempt, each
with flow, key, flow version and journal sequence, and flowd's own log
records (warnings, errors) in the same shape, so a log shipper needs one
parser. Times are UTC, RFC 3339.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from .metrics import CallInfo
from .store import EffectAttempt

if TYPE_CHECKING:
    from .runtime import Transition

VersionOf = Callable[[str], int | None]
"""The flow version of an IR hash (None when unknown)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLog:
    """Writes transition and failed-attempt lines to `stream` (stderr by default)."""

    def __init__(self, version_of: VersionOf, stream: TextIO | None = None) -> None:
        self._version_of = version_of
        self._stream = stream

    def write(self, record: dict[str, Any]) -> None:
        """One line: `time` and `level` first, then the record."""
        line = {"time": _now(), "level": record.pop("level", "info"), **record}
        stream = self._stream or sys.stderr
        stream.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        stream.flush()

    def transition(self, t: Transition) -> None:
        """A committed step (pass as, or chain into, `on_transition`)."""
        instance = t.result.instance
        moves = [line.partition(" ")[2] for line in t.result.trace if line.startswith("enter ")]
        taken = [
            line.partition(" ")[2] for line in t.result.trace if line.startswith("transition ")
        ]
        self.write(
            {
                "level": "warning" if instance.status == "incident" else "info",
                "event": "transition",
                "flow": t.flow,
                "key": t.key,
                "version": self._version_of(t.ir_hash),
                "seq": instance.seq - 1,
                "input": t.input.kind,
                "trigger": getattr(t.input, "name", None) or getattr(t.input, "timer_id", None),
                "transitions": taken,
                "entered": moves,
                "state": instance.state,
                "status": instance.status,
                "trace": list(t.result.trace),
            }
        )

    def attempt_failed(self, attempt: EffectAttempt, call: CallInfo) -> None:
        """An effect attempt that did not succeed (`Metrics.on_failed_attempt`)."""
        self.write(
            {
                "level": "warning",
                "event": "effect_attempt_failed",
                "flow": call.flow,
                "key": call.key,
                "seq": call.seq,
                "call_id": attempt.call_id,
                "effect": call.effect,
                "attempt": attempt.attempt,
                "outcome": attempt.outcome,
                "error": attempt.error,
                "duration_ms": None
                if attempt.finished_ms is None
                else attempt.finished_ms - attempt.started_ms,
                "idempotency_key": attempt.idempotency_key,
            }
        )


class JsonFormatter(logging.Formatter):
    """flowd's log records as the same JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "event": "log",
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
