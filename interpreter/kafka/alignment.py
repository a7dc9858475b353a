"""Both groups of a partitioned flowd assign partition p of every topic to one process.

A partitioned flowd is a member of two consumer groups: `<group>` reads the
flows' topics (`consumer.py`), `<group>.partitions` hands out the store's
partitions (`membership.py`). When a topic's records are keyed by instance
key and the topic has as many partitions as the store, record partition p
holds exactly the instances of store partition p (Kafka's default
partitioner and the store's `partition_of` are one function). If the process
that reads record partition p also holds store partition p, its records are
stepped where they are consumed, on arrival, instead of passing through the
shared inbox to another process.

So both groups use this assignor: the members sorted by their process's
identity (the store's owner id, the same in both groups), partition p of
every topic to member p mod n. This is Kafka Streams' co-partitioning, done
across two groups. The groups rebalance separately, so for a moment their
assignments may differ: that costs a hop through the inbox, never correctness.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

VERSION = 0

PartitionsOf = Callable[[str], "set[int] | None"]
"""A topic's partition numbers, as the cluster's metadata has them (None: unknown)."""


def aligned_assignor(identity: str) -> type[AbstractPartitionAssignor]:
    """An assignor class for a member whose process is `identity`."""

    class AlignedAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
        name = "flowd-aligned"
        version = VERSION

        @classmethod
        def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
            return ConsumerProtocolMemberMetadata(VERSION, list(topics), identity.encode())

        @classmethod
        def assign(
            cls,
            cluster: ClusterMetadata,
            members: Mapping[str, ConsumerProtocolMemberMetadata],
        ) -> dict[str, ConsumerProtocolMemberAssignment]:
            described = {
                m: (bytes(md.user_data or b""), list(md.subscription)) for m, md in members.items()
            }
            return assign_aligned(described, cluster.partitions_for_topic)

        @classmethod
        def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
            pass

    return AlignedAssignor


def assign_aligned(
    members: Mapping[str, tuple[bytes, list[str]]],
    partitions_of: PartitionsOf,
) -> dict[str, ConsumerProtocolMemberAssignment]:
    """`members`: member id -> (its process's identity, its topics). Partition p of
    each topic goes to the (p mod n)-th of the n members reading that topic, in
    the order of their identities (then member ids)."""
    order = sorted(members, key=lambda m: (members[m][0], m))
    chosen: dict[str, defaultdict[str, list[int]]] = {m: defaultdict(list) for m in members}
    for topic in sorted({t for _, topics in members.values() for t in topics}):
        readers = [m for m in order if topic in members[m][1]]
        for partition in sorted(partitions_of(topic) or ()):
            chosen[readers[partition % len(readers)]][topic].append(partition)
    return {
        m: ConsumerProtocolMemberAssignment(VERSION, sorted(topics.items()), b"")
        for m, topics in chosen.items()
    }
