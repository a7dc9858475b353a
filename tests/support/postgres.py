"""A throwaway PostgreSQL cluster on 127.0.0.1, for tests and benchmarks.

`start()` runs `initdb` in a new temporary directory and starts the server on a
free port with `pg_ctl` (as the `postgres` user when run as root: PostgreSQL
refuses to run as root), listening on 127.0.0.1 and on a socket in that
directory only. `Cluster.stop()` stops it (`pg_ctl stop -m fast`, by the pid in
its `postmaster.pid`) and removes the directory. `PostgresUnavailableError` says, for
people, why a cluster cannot run here (no binaries, no `postgres` user, initdb
or start failing, with the server log's last lines).

Also a command, which `scripts/postgres.sh` wraps:

    python tests/support/postgres.py start [--fsync]   # prints DSN and directory
    python tests/support/postgres.py stop DIR

This module uses only the standard library: scripts and benchmarks load it too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
INSTALL_HINT = "scripts/install_postgres.sh (run by scripts/test.sh) installs it with apt-get"


class PostgresUnavailableError(Exception):
    """A PostgreSQL cluster cannot be started here; the message says why."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """A running throwaway cluster: connect with `dsn`; `stop()` removes it."""

    directory: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def stop(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        stop(self.directory)


def bin_dir() -> Path:
    """Where `initdb` and `pg_ctl` are: $FLOWYARD_PG_BIN, the newest Debian
    install under /usr/lib/postgresql, or PATH."""
    configured = os.environ.get("FLOWYARD_PG_BIN")
    if configured:
        if not (Path(configured) / "initdb").is_file():
            raise PostgresUnavailableError(f"FLOWYARD_PG_BIN={configured} holds no initdb")
        return Path(configured)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    if found is None:
        raise PostgresUnavailableError(
            f"PostgreSQL is not installed (no initdb found); {INSTALL_HINT}"
        )
    return Path(found).parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailableError("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", SUPERUSER, "--", *argv]


def _run(argv: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(
        _as_server_user(argv), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        tail = ""
        if log is not None and log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise PostgresUnavailableError(
            f"{what} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            + (f"\nserver log:\n{tail}" if tail else "")
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(*, fsync: bool = False, parent: Path | None = None) -> Cluster:
    """Start a new cluster; `fsync=False` (tests) skips flushing to disk, which a
    throwaway cluster does not need; benchmarks keep it on."""
    binaries = bin_dir()
    if os.geteuid() == 0:
        try:
            import pwd

            owner = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresUnavailableError(
                f"running as root and there is no '{SUPERUSER}' user to run PostgreSQL as; "
                + INSTALL_HINT
            ) from None
    directory = Path(tempfile.mkdtemp(prefix="flowyard-pg-", dir=parent))
    try:
        if os.geteuid() == 0:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        data = directory / "data"
        _run(
            [str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            "initdb",
        )  # fmt: skip
        settings = [
            "-c listen_addresses=127.0.0.1",
            f"-k {directory}",
            f"-c fsync={'on' if fsync else 'off'}",
            "-c max_connections=200",
        ]
        log = directory / "server.log"
        for attempt in range(3):
            port = _free_port()
            try:
                _run(
                    [str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(log),
                     "-o", " ".join([*settings, f"-p {port}"]), "start"],
                    "pg_ctl start",
                    log,
                )  # fmt: skip
            except PostgresUnavailableError:
                # Another process may have taken the port between the probe and the bind.
                if attempt == 2:
                    raise
                continue
            return Cluster(directory, port)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


def stop(directory: Path) -> None:
    """Stop the cluster in `directory` and remove the directory."""
    data = directory / "data"
    if (data / "postmaster.pid").exists():
        with contextlib.suppress(PostgresUnavailableError, subprocess.TimeoutExpired):
            _run(
                [str(bin_dir() / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"],
                "pg_ctl stop",
            )
    shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A throwaway PostgreSQL cluster on 127.0.0.1.")
    commands = parser.add_subparsers(dest="command", required=True)
    started = commands.add_parser("start", help="start one; prints its DSN and directory")
    started.add_argument("--fsync", action="store_true", help="flush to disk (for benchmarks)")
    stopped = commands.add_parser("stop", help="stop one and remove its directory")
    stopped.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop(args.directory)
        return 0
    began = time.perf_counter()
    try:
        cluster = start(fsync=args.fsync)
    except PostgresUnavailableError as error:
        print(f"postgres: {error}", file=sys.stderr)
        return 1
    print(f"DSN={cluster.dsn}")
    print(f"DIR={cluster.directory}")
    print(
        f"started in {time.perf_counter() - began:.1f} s; "
        f"stop with: scripts/postgres.sh stop {cluster.directory}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
