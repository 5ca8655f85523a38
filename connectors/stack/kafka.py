"""Apache Kafka in KRaft mode (no ZooKeeper), from the broker's jars on Maven Central.

``connectors/stack/kafka/pom.xml`` names ``org.apache.kafka:kafka_2.13`` and log4j2 with its
SLF4J binding; ``mvn dependency:copy-dependencies`` copies the runtime jars into
``<cache_dir>/kafka-<version>/libs`` once. One JVM (Java 17) then runs a combined broker and
controller node on 127.0.0.1: ``kafka.tools.StorageTool format`` with a random cluster id the
first time, then ``kafka.Kafka server.properties``. Single node: replication factor 1
everywhere, including the offsets and transaction state topics (the defaults of 3 would leave
consumer groups and transactions waiting for replicas that never come).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from connectors.stack._install import maven_copy_dependencies
from connectors.stack._process import StackError, port_open, start_detached
from connectors.stack._service import Service

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
HEAP = ["-Xms256m", "-Xmx512m"]

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def kafka_version(pom: Path | None = None) -> str:
    """The broker version named in the pom (``<kafka.version>``): one place to change it."""
    pom = pom or POM
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise StackError(f"kafka: {pom} has no <kafka.version> property")
    return node.text.strip()


def random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters).

    Kafka's own ``Uuid.randomUuid`` also avoids ids that begin with '-' (they read as options).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


class Kafka(Service):
    """The project's own single-node Kafka (broker and controller in one JVM)."""

    name = "kafka"
    exe_names = ("java",)
    start_timeout_s = 120.0
    port_setting = "BRRR_KAFKA_BOOTSTRAP_SERVERS"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def address(self) -> str:
        return self.settings.kafka_bootstrap_servers

    @property
    def controller_port(self) -> int:
        return self.settings.kafka_controller_port

    @property
    def home(self) -> Path:
        return self.settings.data_dir / "kafka"

    @property
    def data_folder(self) -> Path:
        return self.home

    @property
    def libs(self) -> Path:
        return self.settings.cache_dir / f"kafka-{kafka_version()}" / "libs"

    def install(self) -> None:
        if shutil.which("java") is None:
            raise StackError(
                "kafka: Java is not on PATH; the broker needs Java 17. "
                "Try: apt-get install -y openjdk-17-jre-headless"
            )
        maven_copy_dependencies(POM, self.libs)

    def version(self) -> str:
        return "Kafka " + kafka_version() + " (KRaft)"

    def server_properties(self) -> str:
        """The broker's configuration for this machine's ports and data folder."""
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:"
            f"{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # A lone member joins its group at once instead of after 3 s.
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "24",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            shutil.which("java") or "java",
            *HEAP,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            str(self.libs / "*"),
            main_class,
            *args,
        ]

    def start(self) -> int:
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(LOG4J2)
        if not (self.home / "data" / "meta.properties").exists():
            self._format(config)
        return start_detached(
            self._java("kafka.Kafka", str(config)),
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.home,
        )

    def _format(self, config: Path) -> None:
        cluster_id = random_cluster_id()
        print(f"  kafka: formatting KRaft storage (cluster id {cluster_id})", flush=True)
        argv = self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config))
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=self.home)
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip()[-1500:]
            raise StackError(
                f"kafka: formatting the storage in {self.home / 'data'} failed:\n{out}\n"
                f"Try: rm -rf {self.home} and run `brrr stack up` again."
            )

    def check(self) -> None:
        # librdkafka logs every refused connection; ask only once the port is open.
        if self.settings.stack_mode == "local" and not port_open(self.port):
            raise ConnectionError(f"nothing listens on {self.address}")
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(
            {"bootstrap.servers": self.settings.kafka_bootstrap_servers, "log_level": 0}
        )
        metadata = admin.list_topics(timeout=5)
        if not metadata.brokers:
            raise ConnectionError("the metadata answer lists no broker")
