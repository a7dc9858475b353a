"""`flowd run`'s configuration: `flowd.toml` and `FLOWD_*` environment variables.

Precedence: an option given on the command line, then the environment
variable, then the file (`--config PATH`, or `FLOWD_CONFIG`), then the
built-in default. The file:

    [store]
    path = "flowd.db"
    synchronous = "FULL"          # FULL, NORMAL or OFF

    [http]
    listen = "127.0.0.1:8080"
    token_file = "/etc/flowd/token"   # the operator token (or FLOWD_TOKEN)

    [flows]
    env = ["CARRIER_URL"]         # variables flows may read as env.NAME
    python_modules = ["billing"]  # modules python effects may use besides the project's own

    [limits]
    max_concurrent_keys = 256
    max_effects_in_flight = 1000
    max_backlog = 10000

    [log]
    format = "text"               # text or json
    level = "error"               # debug, info, warning, error
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration file or an environment variable is wrong: a message for people."""


def _text(choices: tuple[str, ...] | None = None) -> Callable[[Any, str], str]:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, not {value!r}")
        if choices is not None and value not in choices:
            raise ConfigError(f"{where} must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check


def _count(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a whole number of at least 1, not {value!r}")
    return value


def _names(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of variable names, not {value!r}")
    return list(value)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: where it is in the file, its variable, its option's `dest`."""

    section: str
    name: str
    dest: str
    check: Callable[[Any, str], Any]

    @property
    def variable(self) -> str:
        return f"FLOWD_{self.dest.upper()}"


SETTINGS = (
    Setting("store", "path", "store", _text()),
    Setting("store", "synchronous", "synchronous", _text(("FULL", "NORMAL", "OFF"))),
    Setting("http", "listen", "http", _text()),
    Setting("http", "token_file", "token_file", _text()),
    Setting("flows", "env", "env", _names),
    Setting("flows", "python_modules", "allow_module", _names),
    Setting("limits", "max_concurrent_keys", "max_concurrent_keys", _count),
    Setting("limits", "max_effects_in_flight", "max_effects_in_flight", _count),
    Setting("limits", "max_backlog", "max_backlog", _count),
    Setting("log", "format", "log_format", _text(("text", "json"))),
    Setting("log", "level", "log_level", _text(("debug", "info", "warning", "error"))),
)


def read_file(path: Path) -> dict[str, Any]:
    """The settings in a `flowd.toml`, by option `dest`; unknown keys are errors."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None
    known = {(s.section, s.name): s for s in SETTINGS}
    found: dict[str, Any] = {}
    for section, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a [{section}] table")
        for name, value in table.items():
            setting = known.get((section, name))
            if setting is None:
                allowed = ", ".join(f"{s.section}.{s.name}" for s in SETTINGS)
                raise ConfigError(f"{path}: unknown setting {section}.{name} (known: {allowed})")
            found[setting.dest] = setting.check(value, f"{path}: {section}.{name}")
    return found


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as `FLOWD_*` variables, by option `dest`."""
    return {
        s.dest: s.check(environ[s.variable], s.variable) for s in SETTINGS if s.variable in environ
    }


def apply(
    args: argparse.Namespace,
    defaults: argparse.Namespace,
    *,
    config: str | None,
    environ: Mapping[str, str] | None = None,
) -> argparse.Namespace:
    """`args` with each option left at its default taken from the environment or
    the file instead (in that order). Raises `ConfigError`."""
    environ = os.environ if environ is None else environ
    path = config or environ.get("FLOWD_CONFIG")
    from_file = read_file(Path(path)) if path else {}
    from_env = read_environment(environ)
    merged = vars(args).copy()
    for setting in SETTINGS:
        dest = setting.dest
        if dest not in merged or merged[dest] != getattr(defaults, dest, None):
            continue  # given on the command line
        if dest in from_env:
            merged[dest] = from_env[dest]
        elif dest in from_file:
            merged[dest] = from_file[dest]
    return argparse.Namespace(**merged)
