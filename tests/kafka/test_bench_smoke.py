"""bench/kafka.py still runs and reports what it promises (tiny sizes: not a measurement)."""

from __future__ import annotations

import re

import pytest
from flowyard.interpreter.kafka.devbroker import Broker
from support.bench import run_bench

pytestmark = pytest.mark.timeout(300)


def test_kafka_bench_reports_rates_ratios_and_latency(kafka_broker: Broker) -> None:
    out = run_bench(
        "bench/kafka.py",
        "--events", "600", "--keys", "60", "--latency-seconds", "1", "--max-seconds", "120",
        "--bootstrap", kafka_broker.bootstrap,
        timeout=280,
    )  # fmt: skip
    for label in ("(a) aiokafka consumer alone", "(b) flowd run --kafka", "(c) flowd, POST"):
        assert re.search(re.escape(label) + r".*: +[\d,]+ records/s", out), out
    assert re.search(r"step\(\) in a loop, no store.*: +[\d,]+ records/s", out), out
    assert re.search(r"\(b\) / \(a\) : +[\d.]+%", out), out
    assert re.search(r"\(b\) / \(c\) : +[\d.]+x", out), out
    quantiles = r"p50 +-?[\d.]+ ms +p90 +-?[\d.]+ ms +p99 +-?[\d.]+ ms"
    assert re.search(r"produce -> committed transition: +" + quantiles, out), out
    assert re.search(r"produce -> applied \(step at_ms\) : +" + quantiles, out), out


def test_kafka_bench_burst_reports_peak_rss_and_rate(kafka_broker: Broker) -> None:
    out = run_bench(
        "bench/kafka.py",
        "--burst", "2000", "--keys", "50", "--max-seconds", "120",
        "--bootstrap", kafka_broker.bootstrap,
        timeout=280,
    )  # fmt: skip
    assert re.search(r"flowd run --kafka .*: +[\d,]+ records/s +\(all applied", out), out
    assert re.search(r"flowd peak RSS \(VmHWM\) +: +[\d,.]+ MB", out), out
