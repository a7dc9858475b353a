"""Argument types and options for `flowd`, checked by the parser itself.

A bad number is a usage error (exit 2, one line naming the option) before
anything is opened: nothing to release, nothing to hang on.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

from .storable import Bounds

MAX_CLOCK_SPEED = 1_000_000.0
"""Beyond this a flow's clock leaves the range of a millisecond timestamp within hours."""

_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value


def clock_speed(text: str) -> float:
    """A finite number above 0 and at most `MAX_CLOCK_SPEED`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0 < value <= MAX_CLOCK_SPEED:
        raise argparse.ArgumentTypeError(
            f"{text} must be a number above 0 and at most {MAX_CLOCK_SPEED:,.0f}"
        )
    return value


def duration_ms(text: str) -> int:
    """A duration (`90s`, `12h`, `7d`, `1h30m`, ISO 8601 `P7D`) of at least 1 ms, in ms."""
    from ..dsl.durations import parse_duration

    value = parse_duration(text.strip())
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (write e.g. 90s, 12h, 7d)")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 ms or more")
    return value


def byte_size(text: str) -> int:
    """A size in bytes: `1048576`, `512k`, `8m`, `1g` (binary units), at least 1."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (write e.g. 65536, 512k, 8m)")
    value = int(match.group(1)) * _UNITS[(match.group(2) or "")[:1].lower()]
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 byte or more")
    return value


_BOUNDS_OPTIONS: tuple[tuple[str, str, Callable[[str], int], str, str], ...] = (
    ("max_body_bytes", "SIZE", byte_size, "8m", "largest HTTP request body (413 beyond)"),
    (
        "max_events_per_request",
        "N",
        positive_int,
        "10000",
        "most events in one POST /events (413 beyond)",
    ),
    ("max_result_bytes", "SIZE", byte_size, "1m", "largest effect result or callback body"),
    (
        "max_data_bytes",
        "SIZE",
        byte_size,
        "4m",
        "largest instance data after a step; beyond, an incident",
    ),
)
"""(Bounds field, metavar, type, default as written, help) of each size option."""


def add_bounds_options(parser: argparse.ArgumentParser) -> None:
    """`--max-body-bytes`, `--max-events-per-request`, `--max-result-bytes`, `--max-data-bytes`."""
    group = parser.add_argument_group("size limits")
    default = Bounds()
    for name, metavar, kind, shown, text in _BOUNDS_OPTIONS:
        group.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=getattr(default, name),
            metavar=metavar,
            help=f"{text} (default {shown})",
        )


def bounds_of(args: argparse.Namespace) -> Bounds:
    """The `Bounds` the options ask for."""
    return Bounds(
        max_body_bytes=args.max_body_bytes,
        max_events_per_request=args.max_events_per_request,
        max_result_bytes=args.max_result_bytes,
        max_data_bytes=args.max_data_bytes,
    )
