"""Which of the topics flowd reads or writes exist, and creating those that do not.

Clusters often refuse to create topics on first use (`auto.create.topics.enable
= false`, as the development broker has it): a record sent to a missing topic
then waits for metadata until the request times out, and a consumer of one
reads nothing. flowd looks first and says which are missing and how to fix it;
`--create-topics N` creates them (with N partitions, the settings' replication
factor).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .settings import KafkaSettings


async def missing_topics(settings: KafkaSettings, topics: Iterable[str]) -> list[str]:
    """Those of `topics` the cluster does not have, sorted."""
    wanted = sorted(set(topics))
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(**settings.client_options(AIOKafkaAdminClient))
    try:
        await admin.start()
        present = set(await admin.list_topics())
    finally:
        await admin.close()
    return [topic for topic in wanted if topic not in present]


async def create_topics(settings: KafkaSettings, topics: Iterable[str], partitions: int) -> None:
    """Create `topics` with `partitions` each (one created meanwhile by someone else is fine)."""
    admin = AIOKafkaAdminClient(**settings.client_options(AIOKafkaAdminClient))
    try:
        await admin.start()
        for topic in sorted(set(topics)):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(topic, partitions, settings.replication_factor)]
                )
    finally:
        await admin.close()


def how_to_create(topics: Iterable[str], bootstrap: str) -> str:
    """The advice given with a list of missing topics."""
    names = ", ".join(sorted(set(topics)))
    return (
        f"create {names} (kafka-topics.sh --bootstrap-server {bootstrap} --create --topic NAME "
        "--partitions N), or let flowd create the topics its flows read: "
        "flowd run ... --kafka ... --create-topics N"
    )
