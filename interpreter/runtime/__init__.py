"""flowd's imperative shell: ingest, per-key scheduling, effects, timers, outbox.

`Runtime` is the entry point; see its module, `engine`, for a usage sketch.
"""

from .clock import Clock, SystemClock, VirtualClock
from .effects import EffectContext, EffectError
from .engine import (
    CallbackClosedError,
    Runtime,
    RuntimeNotRunningError,
    UnknownInstanceError,
    UnstorableInputError,
)
from .ingest import Delivery, IncomingRecord, IngestOutcome, signal_source
from .stepper import Transition
from .versions import LoadedVersion, UnknownVersionError

__all__ = [
    "CallbackClosedError",
    "Clock",
    "Delivery",
    "EffectContext",
    "EffectError",
    "IncomingRecord",
    "IngestOutcome",
    "LoadedVersion",
    "Runtime",
    "RuntimeNotRunningError",
    "SystemClock",
    "Transition",
    "UnknownInstanceError",
    "UnknownVersionError",
    "UnstorableInputError",
    "VirtualClock",
    "signal_source",
]
