"""`@immutable`: an immutable record type, as cheap to build as a plain object.

A `@dataclass(frozen=True)` sets each field in `__init__` through
`object.__setattr__`, which makes building one two to three times slower than
building an unfrozen one; the records built for every event (inputs,
snapshots, step results, store rows, commits) added up to a tenth of flowd's
time per event. An `@immutable` class is a slotted dataclass that the type checker
treats as frozen (PEP 681 `frozen_default`): assigning to a field is a mypy
error, not a runtime one. It hashes by its fields, as a frozen dataclass does.

The records built for every event are built with positional arguments where
the code builds them per event: calling a class with keywords first packs the
keywords into a dict, which makes building an eight-field record take about
2.5 times as long (460 ns against 175 ns here). Their classes are therefore
not `kw_only`; everywhere else they are built with keywords.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")


@overload
def immutable(cls: type[T], /) -> type[T]: ...
@overload
def immutable(*, kw_only: bool = False, order: bool = False) -> Callable[[type[T]], type[T]]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def immutable(cls: type[T] | None = None, /, *, kw_only: bool = False, order: bool = False) -> Any:
    """Make `cls` an immutable record: `@immutable`, or `@immutable(kw_only=True)`
    (and `order=True` for records compared by their fields in order)."""

    def build(c: type[T]) -> type[T]:
        return dataclass(c, slots=True, kw_only=kw_only, order=order, unsafe_hash=True)

    return build if cls is None else build(cls)
