"""The aligned assignment: partition p of every topic to the same process, in both groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowyard.interpreter.kafka.alignment import aligned_assignor, assign_aligned


def partitions(counts: dict[str, int]) -> Callable[[str], set[int] | None]:
    return lambda topic: set(range(counts[topic])) if topic in counts else None


def test_partition_p_of_every_topic_goes_to_one_process() -> None:
    counts = {"orders": 12, "payments": 12, "flowd.partitions": 12}
    members = {
        "m-9": (b"host-b:2", ["orders", "payments", "flowd.partitions"]),
        "m-1": (b"host-a:7", ["orders", "payments", "flowd.partitions"]),
    }
    chosen = assign_aligned(members, partitions(counts))
    by_member = {m: {t: ps for t, ps in a.assignment} for m, a in chosen.items()}
    assert by_member["m-1"]["orders"] == [0, 2, 4, 6, 8, 10]  # host-a sorts first
    for member, topics in by_member.items():
        assert topics["orders"] == topics["payments"] == topics["flowd.partitions"], member


def test_two_groups_of_the_same_processes_agree_whatever_their_member_ids() -> None:
    counts = {"records": 12, "flowd.partitions": 12}
    identities = [b"a:1", b"b:2", b"c:3"]
    records = assign_aligned(
        {f"r-{9 - i}": (who, ["records"]) for i, who in enumerate(identities)},
        partitions(counts),
    )
    store = assign_aligned(
        {f"s-{i}": (who, ["flowd.partitions"]) for i, who in enumerate(identities)},
        partitions(counts),
    )

    def per_process(chosen: dict[str, Any], order: list[str]) -> dict[bytes, list[int]]:
        return {
            identities[i]: [p for _, ps in chosen[member].assignment for p in ps]
            for i, member in enumerate(order)
        }

    assert per_process(records, [f"r-{9 - i}" for i in range(3)]) == per_process(
        store, [f"s-{i}" for i in range(3)]
    )


def test_a_topic_some_members_do_not_read_goes_to_those_that_do() -> None:
    chosen = assign_aligned(
        {"x": (b"a", ["t", "u"]), "y": (b"b", ["t"])},
        partitions({"t": 4, "u": 3}),
    )
    assert dict(chosen["x"].assignment) == {"t": [0, 2], "u": [0, 1, 2]}
    assert dict(chosen["y"].assignment) == {"t": [1, 3]}


def test_the_member_metadata_carries_the_process_identity() -> None:
    assignor = aligned_assignor("host:42:abc")
    metadata = assignor.metadata(["t"])
    assert (metadata.subscription, metadata.user_data) == (["t"], b"host:42:abc")
    assert assignor.name == "flowd-aligned"
