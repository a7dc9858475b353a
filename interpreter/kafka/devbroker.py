"""A real single-node Kafka broker for development, tests and benchmarks.

Apache Kafka's broker is published to Maven Central, so no tarball and no
container are needed: `mvn` copies the pinned `kafka_2.13` artifact and its
runtime dependencies (plus the log4j binding Maven does not pull) into a cache
outside the repository (`~/.cache/flowyard/kafka/<version>`, or under
`$FLOWYARD_CACHE`). A broker then runs as one `java` process in KRaft mode
(broker and controller combined) on free 127.0.0.1 ports, with its log
directory, configuration and log file in a work directory of its own, and is
stopped by its pid.

    python -m flowyard.interpreter.kafka.devbroker start DIR   # prints the bootstrap
    python -m flowyard.interpreter.kafka.devbroker stop DIR
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "4.4.0"
# 4.4.0 brings slf4j-api 1.7.36 and log4j 2.25.5: the slf4j 1.x binding of that log4j.
LOG4J_BINDING = "org.apache.logging.log4j:log4j-slf4j-impl:2.25.5"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
STATE_FILE = "broker.json"


class BrokerUnavailableError(RuntimeError):
    """The broker cannot run here (no Java, no Maven, jars not fetchable)."""


class BrokerError(RuntimeError):
    """The broker was started but did not become ready, or stopped badly."""


def cache_dir() -> Path:
    """Where the broker's jars are kept, outside any checkout."""
    base = os.environ.get("FLOWYARD_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "flowyard"
    return root / "kafka" / KAFKA_VERSION


def missing_tools() -> str | None:
    """Why the broker cannot run here, or None when Java and Maven (or cached jars) exist."""
    if shutil.which("java") is None:
        return "Kafka tests need Java 17+ (`java` is not on PATH)"
    if not _jars_complete(cache_dir()) and shutil.which("mvn") is None:
        return "Kafka tests need Maven (`mvn` is not on PATH) to fetch the broker's jars"
    return None


def ensure_jars() -> Path:
    """The folder of the broker's jars, fetched with Maven on first use."""
    reason = missing_tools()
    if reason is not None:
        raise BrokerUnavailableError(reason)
    target = cache_dir()
    libs = target / "libs"
    if _jars_complete(target):
        return libs
    target.mkdir(parents=True, exist_ok=True)
    # Several sessions may share the cache: one fetches, the others wait for it.
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _jars_complete(target):
            return libs
        _fetch(target)
    return libs


def _jars_complete(target: Path) -> bool:
    return (target / "libs" / ".complete").exists()


def _fetch(target: Path) -> None:
    group, artifact, version = LOG4J_BINDING.split(":")
    pom = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.flowyard</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>
      <version>{version}</version></dependency>
  </dependencies>
</project>
"""
    staging = target / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "pom.xml").write_text(pom)
        done = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise BrokerUnavailableError(
            f"mvn could not fetch Kafka {KAFKA_VERSION}'s jars:\n" + "\n".join(tail)
        )
    (staging / ".complete").write_text(KAFKA_VERSION + "\n")
    shutil.rmtree(target / "libs", ignore_errors=True)
    staging.rename(target / "libs")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """One running broker: `bootstrap` to connect to, `workdir` with its data and log."""

    workdir: Path
    port: int
    controller_port: int
    pid: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"

    @classmethod
    def create(cls, workdir: Path) -> Broker:
        """Configure and format a broker in `workdir` (not started yet)."""
        libs = ensure_jars()
        workdir.mkdir(parents=True, exist_ok=True)
        broker = cls(workdir=workdir, port=free_port(), controller_port=free_port())
        broker._write_config()
        cluster = _java(libs, "kafka.tools.StorageTool", "random-uuid").strip().splitlines()[-1]
        _java(
            libs,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster,
            "--config",
            str(workdir / "server.properties"),
        )
        return broker

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start the broker process and wait until it accepts connections."""
        libs = ensure_jars()
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.workdir / "java.out", "ab") as out:
            process = subprocess.Popen(
                [
                    "java",
                    "-Xmx512m",
                    "-Xms512m",
                    "-XX:+UseG1GC",
                    "-XX:TieredStopAtLevel=1",
                    f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
                    "-cp",
                    f"{libs}/*",
                    "kafka.Kafka",
                    str(self.workdir / "server.properties"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid, self.process = process.pid, process
        self._save_state()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerError(
                    f"the Kafka broker exited with {process.returncode} while starting; "
                    f"see {self.log_path} and {self.workdir / 'java.out'}"
                )
            if self._started_since(mark) and _accepts(self.port):
                return
            time.sleep(0.2)
        self.stop()
        raise BrokerError(
            f"the Kafka broker was not ready after {timeout_s:.0f} s; see {self.log_path}"
        )

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker by its pid (SIGTERM, SIGKILL after a grace period)."""
        pid, self.pid = self.pid, None
        process, self.process = self.process, None
        self._save_state()
        if pid is None:
            return
        if process is not None:
            # Our own child: wait on it (and reap it) through its Popen.
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not _reap(pid):
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _reap(pid):
            time.sleep(0.1)

    def _started_since(self, mark: int) -> bool:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(mark)
                return b"Kafka Server started" in log.read()
        except FileNotFoundError:
            return False

    def _save_state(self) -> None:
        state = {
            "pid": self.pid,
            "port": self.port,
            "controller_port": self.controller_port,
            "bootstrap": self.bootstrap,
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state) + "\n")

    @classmethod
    def load(cls, workdir: Path) -> Broker:
        """The broker whose state `start` saved in `workdir`."""
        state = json.loads((workdir / STATE_FILE).read_text())
        return cls(
            workdir=workdir,
            port=int(state["port"]),
            controller_port=int(state["controller_port"]),
            pid=state["pid"],
        )

    def _write_config(self) -> None:
        d = self.workdir
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(d / "data"),
            "num.partitions": "1",
            # One node: every internal topic has one replica, or groups and
            # transactions wait forever for replicas that do not exist.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # The cleaner allocates this on the heap at start-up (128 MiB by default).
            "log.cleaner.dedupe.buffer.size": "2097152",
            "message.max.bytes": "4194304",
            "auto.create.topics.enable": "false",
        }
        text = "".join(f"{k}={v}\n" for k, v in properties.items())
        (d / "server.properties").write_text(text)
        (d / "log4j2.properties").write_text(
            "appender.file.type = File\n"
            "appender.file.name = file\n"
            f"appender.file.fileName = {self.log_path}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.file.ref = file\n"
            "logger.kafka.name = kafka\nlogger.kafka.level = INFO\n"
            "logger.apache.name = org.apache\nlogger.apache.level = WARN\n"
            "logger.server.name = kafka.server.KafkaRaftServer\nlogger.server.level = INFO\n"
        )


def _java(libs: Path, main: str, *args: str) -> str:
    done = subprocess.run(
        ["java", "-Xmx256m", "-cp", f"{libs}/*", main, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BrokerError(f"{main} {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _reap(pid: int) -> bool:
    """Whether `pid` is still running (reaping it if it is our exited child)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """`start DIR` (prints the bootstrap address) or `stop DIR`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("start", "stop"):
        print("usage: devbroker start|stop DIR", file=sys.stderr)
        return 2
    command, workdir = args[0], Path(args[1]).resolve()
    try:
        if command == "start":
            if (workdir / STATE_FILE).exists() and Broker.load(workdir).pid is not None:
                broker = Broker.load(workdir)
                if broker.pid is not None and _reap(broker.pid):
                    print(broker.bootstrap)
                    return 0
            broker = (
                Broker.load(workdir)
                if (workdir / "server.properties").exists()
                else Broker.create(workdir)
            )
            broker.start()
            print(broker.bootstrap)
        else:
            if not (workdir / STATE_FILE).exists():
                print(f"no broker state in {workdir}", file=sys.stderr)
                return 1
            Broker.load(workdir).stop()
    except BrokerUnavailableError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 3
    except BrokerError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
