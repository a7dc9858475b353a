"""Source ids made of several parts, composed so that no two differ only in
where the parts split.

A source id is the store's deduplication key (`sources`): two different
inputs with one id would make the second a "duplicate" and drop it. Joining
parts with `:` is ambiguous as soon as a part may hold a `:` (an instance key,
an Idempotency-Key): `signal:sa:b:c:d` is key `b:c` with id `d` as well as
key `b` with id `c:d`. `source_id` escapes `%` and `:` inside each part
(`%25`, `%3A`), so the parts can always be told apart, and ids whose parts
hold neither character are exactly what they were before (stored ids stay
valid).

Every ingress that composes a source id from parts it does not control (the
Kafka consumer too: `source_id("kafka", topic, partition)`) uses this.
"""

from __future__ import annotations


def source_id(kind: str, *parts: str | int) -> str:
    """`kind:part:part...`, each part escaped (`%` as `%25`, `:` as `%3A`)."""
    return ":".join([kind, *(escape(str(part)) for part in parts)])


def escape(part: str) -> str:
    """`part` with `%` and `:` percent-escaped, so it holds no separator."""
    if "%" not in part and ":" not in part:
        return part
    return part.replace("%", "%25").replace(":", "%3A")
