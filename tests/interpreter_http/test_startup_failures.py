"""A `flowd` that cannot start says why in one line, exits 2, and holds nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from flowyard.interpreter.cli import main
from flowyard.interpreter.store.ownership import StoreOwnership

FLOW = """
flow: tiny
version: 1
key: id
events:
  Opened:
    topic: tiny
    key: event.id
initial: new
states:
  new:
    on:
      Opened: {goto: done}
  done:
    final: true
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.flow.yaml"
    path.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-concurrent-keys", "0"),
        ("--max-concurrent-keys", "-5"),
        ("--clock-speed", "nan"),
        ("--clock-speed", "inf"),
        ("--clock-speed", "1e308"),
        ("--clock-speed", "0"),
        ("--max-events-per-request", "0"),
        ("--max-body-bytes", "lots"),
    ],
)
def test_bad_numbers_are_refused_by_the_parser(
    flow_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    store = tmp_path / "x.db"
    assert main(["run", str(flow_file), "--store", str(store), option, value]) == 2
    assert f"argument {option}:" in capsys.readouterr().err
    assert not store.exists()


def test_a_store_in_a_missing_folder_is_one_line_and_exit_2(
    flow_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "nowhere" / "x.db"
    assert main(["run", str(flow_file), "--store", str(store), "--no-http"]) == 2
    said = capsys.readouterr()
    text = said.out + said.err
    assert "Traceback" not in text and text.count("\n") == 1, text
    assert "cannot" in text and "No such file or directory" in text


def test_a_store_that_is_not_a_database_exits_2_and_releases_its_lock(
    flow_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "garbage.db"
    store.write_bytes(b"this is not a SQLite database, but it is long enough to look at" * 20)
    assert main(["run", str(flow_file), "--store", str(store), "--no-http"]) == 2
    said = capsys.readouterr()
    assert "cannot open the store: file is not a database" in said.out + said.err
    StoreOwnership.claim(store).release()  # the lock was given back
    for command in (["verify"], ["incidents"], ["dead-letters"], ["retry", "tiny", "k"]):
        assert main([*command, "--store", str(store)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not a database" in err, (command, err)
