"""schemathesis against a running flowd's `/openapi.json`: generated requests to
every route find no server error and no answer that breaks the document."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flowd_process import start_flowd, stop_flowd

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(
    tmp_path: Path,
) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a test dependency (pip install -e '.[test]')"
    flowd, base = start_flowd(
        str(ROOT / "examples" / "order_fulfillment.flow.yaml"),
        *("--store", str(tmp_path / "flowd.db"), "--quiet", "--color", "never"),
        *("--synchronous", "NORMAL", "--env", "CARRIER_URL"),
        cwd=ROOT,  # the example's effects import from examples/
        env={"CARRIER_URL": "http://127.0.0.1:9"},  # nothing listens: calls fail, as they may
    )
    try:
        done = subprocess.run(
            [
                *(cli, "run", f"{base}/openapi.json"),
                *("--checks", "not_a_server_error,response_schema_conformance"),
                *("--max-examples", "10", "--workers", "1", "--seed", "1"),
            ],
            cwd=tmp_path,  # schemathesis keeps a cache folder where it runs
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        assert " passed" in done.stdout
    finally:
        stop_flowd(flowd)
