"""Durable storage for flowd: the `Store` protocol, its SQLite and PostgreSQL implementations."""

from typing import TYPE_CHECKING, Any

from .base import (
    EFFECT_STATUSES,
    CallbackRegistration,
    ConflictError,
    DeadLetter,
    DeadLetterRow,
    EffectAttempt,
    EffectCallRow,
    EffectCallUpdate,
    EffectStatus,
    InboxItem,
    InboxRow,
    IngestResult,
    InstanceRow,
    IrVersion,
    JournalEntry,
    JsonObject,
    LogRecord,
    NewEffectCall,
    OutboxMessage,
    OutboxRow,
    SourcePosition,
    StepCommit,
    Store,
    StoreClosedError,
    StoreError,
    StoreGauges,
    StoreStats,
    TimerRow,
)
from .sqlite import SQLiteStore, Synchronous, Writer

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = [
    "EFFECT_STATUSES",
    "CallbackRegistration",
    "ConflictError",
    "DeadLetter",
    "DeadLetterRow",
    "EffectAttempt",
    "EffectCallRow",
    "EffectCallUpdate",
    "EffectStatus",
    "InboxItem",
    "InboxRow",
    "IngestResult",
    "InstanceRow",
    "IrVersion",
    "JournalEntry",
    "JsonObject",
    "LogRecord",
    "NewEffectCall",
    "OutboxMessage",
    "OutboxRow",
    "PostgresStore",
    "SQLiteStore",
    "SourcePosition",
    "StepCommit",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreGauges",
    "StoreStats",
    "Synchronous",
    "TimerRow",
    "Writer",
]


def __getattr__(name: str) -> Any:
    # asyncpg takes a while to import: only a PostgreSQL store pays for it.
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
