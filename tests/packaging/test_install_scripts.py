"""scripts/install_*.sh say what they install and why before they touch the system.

Each runs on a fake system: a PATH with none of the tools it looks for, an `id`
saying root, and an `apt-get` that only logs its calls.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class InstallScript:
    name: str
    said: tuple[str, ...]
    """What the script says before its first apt-get."""
    apt_install: str
    skipped: str
    """What the note says is skipped when nothing is installed."""


SCRIPTS = [
    InstallScript("install_graphviz.sh", ("installing graphviz", "svg"), "graphviz", "svg tests"),
    InstallScript(
        "install_kafka.sh",
        ("installing Java 17 and Maven", "Kafka tests"),
        "openjdk-17-jre-headless maven",
        "Kafka tests",
    ),
    InstallScript(
        "install_postgres.sh",
        ("installing postgresql", "PostgreSQL store tests"),
        "postgresql",
        "PostgreSQL store tests",
    ),
]
IDS = [script.name for script in SCRIPTS]


def run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >&2\necho "$*" >> {log}\n')
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    for tool in ("apt-get", "id"):
        (bin_dir / tool).chmod(0o755)
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, str(ROOT / "scripts" / script)],
        check=False,
        env={"PATH": str(bin_dir), "FLOWYARD_PG_LIB": str(tmp_path / "none"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_it_says_what_it_installs_and_why_before_apt_get(
    script: InstallScript, tmp_path: Path
) -> None:
    done = run(script.name, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    first_apt = next(i for i, line in enumerate(lines) if line.startswith("apt-get "))
    said = "\n".join(lines[:first_apt])
    assert all(part in said for part in script.said), said
    assert "FLOWYARD_NO_SYSTEM_INSTALL=1" in said
    assert f"install -y -qq {script.apt_install}" in (tmp_path / "apt.log").read_text()


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_it_leaves_the_system_alone_when_asked(script: InstallScript, tmp_path: Path) -> None:
    done = run(script.name, tmp_path, FLOWYARD_NO_SYSTEM_INSTALL="1")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "apt.log").exists()
    assert f"{script.skipped} will be skipped" in done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_the_suite_script_runs_it(script: InstallScript) -> None:
    assert f"scripts/{script.name}" in (ROOT / "scripts" / "test.sh").read_text()


def test_postgres_does_nothing_where_postgresql_is_installed(tmp_path: Path) -> None:
    installed = tmp_path / "lib" / "15" / "bin"
    installed.mkdir(parents=True)
    (installed / "initdb").write_text("#!/bin/sh\n")
    (installed / "initdb").chmod(0o755)
    done = run("install_postgres.sh", tmp_path, FLOWYARD_PG_LIB=str(tmp_path / "lib"))
    assert (done.returncode, done.stderr) == (0, "")
    assert not (tmp_path / "apt.log").exists()
