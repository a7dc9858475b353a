"""Checking an instance's data against the schemas of its fields, with messages people can act on.

The validators are built once per program, one per field (see
`Program.field_validators`), so a transition only re-checks the fields it wrote;
this module turns their errors into `DataProblem`s naming the field, the place
inside it and what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from ..compiler.schema_messages import violation_message

_SETS = (set, frozenset)
"""For `isinstance` (a tuple: an inline `A | B` builds a union on every call)."""


@dataclass(frozen=True, slots=True)
class DataProblem:
    """One schema violation: the top-level data field, the path inside it, and why."""

    field: str | None
    path: str
    message: str

    def __str__(self) -> str:
        if self.field is None:
            return self.message
        return f"data.{self.path}: {self.message}"


def data_problems(
    validators: Mapping[str, Draft202012Validator],
    data: Mapping[str, Any],
    fields: Iterable[str] | None = None,
    quick: Mapping[str, Callable[[Any], bool]] | None = None,
) -> list[DataProblem]:
    """Every violation of the field schemas, ordered by where it is.

    `fields` limits the check to the fields a transition wrote (all when None):
    the others were valid when last written and have not changed. `quick` holds
    "surely valid" predicates per field (see `schemaquick`); a field whose
    predicate holds skips the full validator.
    """
    if fields is not None and quick is not None:
        # Most transitions: every field written passes its quick predicate.
        for name in fields:
            check = quick.get(name)
            if check is None or name not in data or not check(data[name]):
                break
        else:
            return []
    problems = []
    if fields is None:
        names: Iterable[str] = validators.keys()
    else:
        names = fields if isinstance(fields, _SETS) else set(fields)
    quick = quick or {}
    # The problems are sorted at the end, so the fields may be checked in any order.
    for name in names:
        checker = validators.get(name)
        if checker is None:
            continue
        if name not in data:
            problems.append(DataProblem(field=name, path=name, message="is missing"))
            continue
        surely_valid = quick.get(name)
        if surely_valid is not None and surely_valid(data[name]):
            continue
        for err in checker.iter_errors(data[name]):
            parts = [name, *(str(p) for p in err.absolute_path)]
            problems.append(
                DataProblem(field=name, path=".".join(parts), message=violation_message(err))
            )
    if problems:
        problems.sort(key=lambda p: (p.path, p.message))
    return problems


def describe(problems: list[DataProblem], after: str) -> str:
    """One incident reason: which fields are wrong and after which transition."""
    fields = sorted({p.field for p in problems if p.field is not None})
    named = f" (field {', '.join(repr(f) for f in fields)})" if fields else ""
    details = "; ".join(str(p) for p in problems)
    return f"data does not match its schema after {after}{named}: {details}"
