"""Composed source ids are unambiguous: inputs that differ are never taken for
duplicates of each other because their parts hold the separator."""

from __future__ import annotations

from typing import Any

import pytest
from flowyard.interpreter.runtime import Runtime, VirtualClock
from flowyard.interpreter.sourceids import source_id

FLOW = """
flow: sa
version: 1
key: id
signals:
  ping:
    schema: {type: object}
data:
  pings: {type: integer, default: 0}
initial: open
states:
  open:
    on:
      ping:
        do:
          - set: {pings: "${ data.pings + 1 }"}
"""


def test_parts_are_escaped_and_plain_ids_are_unchanged() -> None:
    assert source_id("signal", "sa", "b:c", "d") != source_id("signal", "sa", "b", "c:d")
    assert source_id("signal", "sa", "b%3Ac", "d") != source_id("signal", "sa", "b:c", "d")
    assert source_id("signal", "sa", "o-1", "s2") == "signal:sa:o-1:s2"  # as stored before
    assert source_id("http", "orders", 7) == "http:orders:7"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("b:c", "d"), ("b", "c:d")),
        (("b", "c:d"), ("b:c", "d")),
        (("x%3Ay", "z"), ("x:y", "z")),
    ],
)
async def test_signals_whose_parts_hold_a_colon_are_both_applied(
    open_store: Any,
    compile_yaml: Any,
    first: tuple[str, str],
    second: tuple[str, str],
) -> None:
    rt = Runtime(await open_store(), [compile_yaml(FLOW)], VirtualClock())
    await rt.start()
    one = await rt.signal("sa", first[0], "ping", {}, signal_id=first[1])
    two = await rt.signal("sa", second[0], "ping", {}, signal_id=second[1])
    assert (one.status, two.status) == ("accepted", "accepted")
    await rt.wait_idle()
    for key in (first[0], second[0]):
        instance = await rt.get_instance("sa", key)
        assert instance is not None and instance.data["pings"] == 1
    again = await rt.signal("sa", first[0], "ping", {}, signal_id=first[1])
    assert again.status == "duplicate"
    await rt.drain_and_stop()
