"""scripts/install_kafka.sh says what it installs and why before it touches the system."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install_kafka.sh"


def fake_system(tmp_path: Path) -> Path:
    """A PATH with no `java` nor `mvn`, an `id` saying root, and an `apt-get` that logs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >&2\necho "$*" >> {log}\n')
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    for tool in ("apt-get", "id"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(
        [bash, str(SCRIPT)],
        check=False,
        env={"PATH": str(fake_system(tmp_path)), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_says_what_it_installs_and_why_before_apt_get(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    first_apt = next(i for i, line in enumerate(lines) if line.startswith("apt-get "))
    said = "\n".join(lines[:first_apt])
    assert "installing Java 17 and Maven" in said and "Kafka tests" in said
    assert "FLOWYARD_NO_SYSTEM_INSTALL=1" in said
    assert "install -y -qq openjdk-17-jre-headless maven" in (tmp_path / "apt.log").read_text()


def test_it_leaves_the_system_alone_when_asked(tmp_path: Path) -> None:
    done = run(tmp_path, FLOWYARD_NO_SYSTEM_INSTALL="1")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "apt.log").exists()
    assert "Kafka tests will be skipped" in done.stderr


def test_the_suite_script_runs_it() -> None:
    assert "scripts/install_kafka.sh" in (ROOT / "scripts" / "test.sh").read_text()
