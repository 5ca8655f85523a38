"""Kafka topics of the pipeline and an idempotent producer of framed Avro records.

Topics are created explicitly before any worker or sink starts: Faust does not create an
agent's source topic, and a broker's auto-creation would give one partition.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from schemas.codec import encode

#: topic -> partitions, the one list of the pipeline's topics. The key is the recording on
#: every EEG topic (one recording stays in order on one partition; more workers take more
#: recordings at once) and the job on eeg.jobs.
PIPELINE_TOPICS: dict[str, int] = {
    "eeg.jobs.high": 6,
    "eeg.jobs": 6,
    "eeg.jobs.low": 6,
    "eeg.segments": 6,
    "eeg.windows": 6,
    "eeg.features": 6,
    "eeg.window_checks": 6,
    "eeg.window_results": 6,
    "eeg.detections": 6,
    "eeg.results": 6,
    "eeg.progress": 6,
    "eeg.deadletter": 1,
    "eeg.alerts.urgent": 1,
}

#: Largest record the pipeline writes (a 4 s segment of 256 channels at 512 Hz in float32 is
#: 2 MB): set on the topics it creates and on its producers, over Kafka's 1 MB default.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Topics:
    """The pipeline's topic names, under an optional namespace.

    A namespace (``BRRR_KAFKA_NAMESPACE``) prefixes every topic and consumer group, so that
    two deployments, or two test runs, can share a broker without reading each other's EEG.
    """

    namespace: str = ""

    def name(self, base: str) -> str:
        """The topic called ``base`` (a key of :data:`PIPELINE_TOPICS`) in this namespace."""
        if base not in PIPELINE_TOPICS:
            raise KeyError(f"{base!r} is not a pipeline topic; known: {sorted(PIPELINE_TOPICS)}")
        return f"{self.namespace}.{base}" if self.namespace else base

    def group(self, base: str) -> str:
        """A consumer group (or Faust app id) in this namespace."""
        return f"{self.namespace}.{base}" if self.namespace else base

    @property
    def partitions(self) -> dict[str, int]:
        """Every topic of this namespace with its partition count."""
        return {self.name(base): n for base, n in PIPELINE_TOPICS.items()}

    jobs = property(lambda self: self.name("eeg.jobs"))

    def jobs_for(self, priority: str) -> str:
        """The jobs topic of a priority (``high``, ``normal``, ``low``): one topic each, so
        that urgent jobs never queue behind routine ones (``streams.jobs.PrioritySlots``)."""
        if priority == "normal":
            return self.jobs
        if priority not in ("high", "low"):
            raise KeyError(f"{priority!r} is not a job priority: use high, normal or low")
        return self.name(f"eeg.jobs.{priority}")

    segments = property(lambda self: self.name("eeg.segments"))
    windows = property(lambda self: self.name("eeg.windows"))
    features = property(lambda self: self.name("eeg.features"))
    window_checks = property(lambda self: self.name("eeg.window_checks"))
    window_results = property(lambda self: self.name("eeg.window_results"))
    detections = property(lambda self: self.name("eeg.detections"))
    results = property(lambda self: self.name("eeg.results"))
    progress = property(lambda self: self.name("eeg.progress"))
    deadletter = property(lambda self: self.name("eeg.deadletter"))
    alerts = property(lambda self: self.name("eeg.alerts.urgent"))


class KafkaUnavailableError(Exception):
    """The broker does not answer, or refuses a request."""

    code = "kafka_unavailable"


def ensure_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int] | None = None,
    *,
    compacted: Collection[str] = (),
    timeout_s: float = 15.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    ``compacted`` names those that keep the last value per key (table changelogs).
    """
    wanted = dict(PIPELINE_TOPICS if topics is None else topics)
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise KafkaUnavailableError(
            f"Kafka at {bootstrap_servers} does not answer ({exc}); "
            "start it with `brrr stack up` or set BRRR_KAFKA_BOOTSTRAP_SERVERS"
        ) from None
    missing = [
        NewTopic(
            name,
            num_partitions=n,
            config={
                "max.message.bytes": str(MAX_MESSAGE_BYTES),
                **({"cleanup.policy": "compact"} if name in compacted else {}),
            },
        )
        for name, n in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []
    for name, future in admin.create_topics(missing, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):  # a racing worker made it: fine
                raise KafkaUnavailableError(
                    f"could not create topic {name} on {bootstrap_servers}: {exc}; "
                    "`brrr stack status` names the broker's log"
                ) from None
    return [t.topic for t in missing]


class RecordProducer:
    """An idempotent producer (acks=all) of Avro records framed by ``schemas.codec``."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = bootstrap_servers
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.max.bytes": MAX_MESSAGE_BYTES,
            }
        )
        self._errors: list[str] = []

    def send(self, topic: str, schema_name: str, key: str, record: Mapping) -> None:
        """Queue one record; :meth:`flush` waits until the broker has them all."""
        self._producer.produce(
            topic, key=key.encode(), value=encode(schema_name, dict(record)), on_delivery=self._done
        )
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until the broker has every record sent so far.

        Raises
        ------
        KafkaUnavailableError
            When records are still undelivered after ``timeout_s``, or the broker refused some.
        """
        remaining = self._producer.flush(timeout_s)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise KafkaUnavailableError(
                f"{remaining} record(s) not delivered to {self._bootstrap} in {timeout_s:g} s"
                + (f"; errors: {'; '.join(errors[:3])}" if errors else "")
                + "; start the local stack with `brrr stack up` or set "
                "BRRR_KAFKA_BOOTSTRAP_SERVERS"
            )

    def _done(self, err: object, _msg: object) -> None:
        if err is not None:
            self._errors.append(str(err))
