"""The Kafka tests share one broker per session (started by the first that asks)."""

from support.kafka import kafka_broker

__all__ = ["kafka_broker"]
