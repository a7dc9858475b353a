"""The benchmarks still run and report what they promise (tiny sizes: not a measurement)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support.bench import run_bench


def test_embedded_bench_reports_rates_and_latencies() -> None:
    out = run_bench("bench/embedded.py", "--events", "300", "--keys", "30", "--max-seconds", "120")
    for label in ("flowd, POST /events", "(a) raw batched SQLite", "(b) step() in a loop"):
        assert re.search(re.escape(label) + r".*: +[\d,]+ events/s", out), out
    assert re.search(r"request ack latency +p50 +[\d.]+ ms +p99 +[\d.]+ ms", out), out
    assert re.search(r"flowd / raw inserts : +[\d.]+%", out), out
    assert re.search(r"stepped on arrival +[\d.]+% of events", out), out


def test_embedded_bench_reports_live_output_beside_quiet() -> None:
    out = run_bench(
        "bench/embedded.py", "--events", "300", "--keys", "30", "--max-seconds", "120",
        "--live-output", "--rounds", "1",
    )  # fmt: skip
    assert re.search(r"--quiet +: +[\d,]+ events/s", out), out
    for label in ("into a file", "on a terminal"):
        assert re.search(
            label + r" +: +[\d,]+ events/s( +[\d.]+ us flowd CPU/event)?"
            r" +[\d.]+% of --quiet +\(target >= 80%\)",
            out,
        ), out


def test_kafka_ingest_bench_reports_cpu_per_record() -> None:
    out = run_bench("bench/kafka_ingest.py", "--records", "600", "--keys", "60", "--repeat", "1")
    assert re.search(r"\(1\) SQLite store +: +[\d,]+ records/s +[\d.]+ us event-loop CPU", out), out
    assert re.search(r"\(2\) writes stubbed +: +[\d.]+ us event-loop CPU/record", out), out


def test_store_writes_bench_reports_each_transaction_size() -> None:
    out = run_bench(
        "bench/store_writes.py", "--keys", "50", "--records", "400", "--prefill", "200",
        "--small", "20", "--large", "200",
    )  # fmt: skip
    for size in ("20", "200"):
        assert re.search(
            rf"transactions of +{size}: +[\d,]+ records/s +[\d.]+ us/record +[\d.]+ us CPU/record"
            r" +[\d.]+ KB WAL/record",
            out,
        ), out
    assert re.search(r"20 / 200 : +[\d.]+%", out), out


def test_runtime_cpu_bench_reports_each_phase() -> None:
    out = run_bench("bench/runtime_cpu.py", "--events", "300", "--keys", "30")
    for label in (
        "(1) ingest only",
        "(2) durable steps, all through",
        "(3) durable steps, stepped on",
        "(4) = (3), writes replaced by",
    ):
        assert re.search(
            re.escape(label) + r".*: +[\d,]+ events/s +\d+ us CPU/event .*thread busy +\d+%", out
        ), out


def test_compile_bench_reports_ratios() -> None:
    out = run_bench("bench/compile.py", "--states", "50", "--runs", "1")
    assert re.search(r"flowc validate +[\d.]+ ms", out), out
    assert re.search(r"\(CSafeLoader\) +[\d.]+ ms +validate / this +[\d.]+x +\(target <= 3x\)", out)
    assert re.search(r"the same flow as \.flow +[\d.]+ ms +/ validate of the YAML", out), out
    assert re.search(r"/ python -c pass +[\d.]+x +\(target <= 4x\)", out), out


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_scaleout_bench_reports_flowd_beside_raw_postgres(
    postgres_cluster: Any, kafka_broker: Any
) -> None:
    out = run_bench(
        "bench/scaleout.py", "--events", "300", "--keys", "30", "--max-seconds", "120",
        "--failover-rate", "50", "--failover-seconds", "20", "--kill-after", "2",
        "--dsn", postgres_cluster.dsn, "--bootstrap", kafka_broker.bootstrap,
        timeout=400,
    )  # fmt: skip
    assert re.search(r"load average [\d.]+ at the start and [\d.]+ at the end", out), out
    assert re.search(r"one flowd on PostgreSQL.*: +[\d,]+/s", out), out
    assert re.search(r"\(a\) raw batched PostgreSQL writes.*: +[\d,]+/s", out), out
    assert re.search(r"flowd / raw PostgreSQL writes : +[\d.]+%", out), out
    for label in ("one", "two"):
        assert re.search(
            label + r" partitioned flowd, Kafka -> durable transitions +: +[\d,]+/s"
            r" +\(ready [\d.]+ s after launch; produced at [\d,]+/s\)",
            out,
        ), out
    assert re.search(r"store partitions held: 6 \+ 6; source partitions read: 6 \+ 6", out), out
    assert re.search(r"flowd CPU while the clock ran: .* [\d,]+ us per transition", out), out
    assert re.search(r"keys not applied exactly once in order: \d+", out), out
    assert re.search(r"two / one partitioned flowd : +[\d.]+x", out), out
    assert re.search(r"one partitioned flowd / raw PostgreSQL writes : +[\d.]+%", out), out
    assert re.search(r"one partitioned flowd / one flowd not partitioned .*: +[\d.]+%", out), out
    assert re.search(r"session timeout [\d.]+ s, heartbeat [\d.]+ s", out), out
    assert re.search(r"\(a\) SIGKILL -> survivor holds all 12 partitions +: +[\d.]+ s", out), out
    assert re.search(r"\(b\) SIGKILL -> first transition of its instances +: +[\d.]+ s", out), out
    assert re.search(
        r"\(c\) journal [\d,]+ of [\d,]+ records; keys not applied exactly once in order: \d+",
        out,
    ), out


def test_check_bench_reports_time_and_configurations() -> None:
    out = run_bench("bench/check.py", "--sizes", "20,50", "--runs", "1")
    for states in (20, 50):
        assert re.search(
            rf"{states} states +flowc validate +[\d.]+ ms +flowc check +[\d.]+ ms +check / validate"
            r" +[\d.]+x +[\d,]+ configurations \((complete|incomplete), \d+ findings\)",
            out,
        ), out
    assert re.search(r"target: 50 states checked in < 2 s: (met|NOT met)", out), out


def test_timers_bench_reports_rates_lateness_and_memory() -> None:
    out = run_bench(
        "bench/timers.py",
        *("--timers", "300", "--events", "200", "--keys", "20"),
        *("--lateness-seconds", "0.5", "--parked", "200", "--max-seconds", "120"),
    )
    assert re.search(r"\(1\) event rate: pokes to parked instances : +[\d,]+ events/s", out), out
    assert re.search(r"\(2\) timers due within one second +: +[\d,]+ fired/s", out), out
    assert re.search(r"fired / event rate : +[\d.]+%", out), out
    for label in ("stepped after due", "seen durable"):
        assert re.search(label + r" +p50 +-?\d+ ms +p99 +-?\d+ ms +max +-?\d+ ms", out), out
    assert re.search(r"\(4\) 200 parked instances with 200 pending timers", out), out
    assert re.search(r"flowd RSS +[\d.]+ MB +peak +[\d.]+ MB", out), out
    assert re.search(r"restarted with all 200 overdue: answering after [\d.]+ s", out), out
