"""`flowd send`: produce a record, or the events of a JSON Lines file, to Kafka by hand."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from .. import jsontext
from .producer import encode_value, header_list, new_producer
from .settings import KafkaSettings
from .topics import how_to_create, missing_topics


class SendError(RuntimeError):
    """Nothing (or not everything) could be sent; the message says why."""


async def send_one(
    settings: KafkaSettings,
    topic: str,
    value_text: str,
    key: str | None,
    headers: Mapping[str, str],
) -> str:
    """Produce one record; a line saying where it landed."""
    try:
        value = jsontext.loads(value_text)
    except ValueError as exc:
        raise SendError(f"the value is not JSON: {exc}") from None
    await _check_topics(settings, [topic])
    producer = new_producer(settings)
    try:
        await producer.start()
        meta = await producer.send_and_wait(
            topic,
            value=encode_value(value),
            key=None if key is None else key.encode("utf-8"),
            headers=header_list(headers),
        )
    except (KafkaError, OSError) as exc:
        raise SendError(f"cannot send to {topic} at {settings.bootstrap}: {exc}") from None
    finally:
        await producer.stop()
    return f"sent to {topic} partition {meta.partition} offset {meta.offset}"


async def send_events(settings: KafkaSettings, path: Path) -> str:
    """Produce every event line of `path` (`{"topic", "value", "key"?, "headers"?}`)."""
    events: list[tuple[str, Any, str | None, dict[str, str]]] = []
    skipped = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = jsontext.loads(line)
        except ValueError as exc:
            raise SendError(f"{path}:{number}: not JSON: {exc}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("topic"), str):
            skipped += 1  # signals and other lines have no topic to go to
            continue
        key = obj.get("key")
        headers = obj.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise SendError(f"{path}:{number}: headers must map names to strings")
        events.append((obj["topic"], obj.get("value"), None if key is None else str(key), headers))
    await _check_topics(settings, [topic for topic, _, _, _ in events])
    producer = new_producer(settings)
    try:
        await producer.start()
        waiting = [
            await producer.send(
                topic,
                value=encode_value(value),
                key=None if key is None else key.encode("utf-8"),
                headers=header_list(headers),
            )
            for topic, value, key, headers in events
        ]
        for future in waiting:
            await future
    except (KafkaError, OSError) as exc:
        raise SendError(f"cannot send {path} to {settings.bootstrap}: {exc}") from None
    finally:
        await producer.stop()
    note = f", {skipped} lines without a topic skipped" if skipped else ""
    return f"sent {len(events)} records{note}"


async def _check_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """Refuse at once to send to a missing topic (the producer would wait for it
    until its request timed out)."""
    try:
        missing = await missing_topics(settings, topics)
    except (KafkaError, OSError) as exc:
        raise SendError(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from None
    if missing:
        raise SendError(
            f"no topic {', '.join(missing)} at {settings.bootstrap}: "
            + how_to_create(missing, settings.bootstrap)
        )
