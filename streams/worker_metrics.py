"""The worker's Prometheus metrics and the server that exposes them.

``eeg_processing_duration_seconds``: a job from its start to its result; ``model_inference_
duration_seconds{model="eegpt"}``: one EEGPT micro-batch; ``eeg_windows_processed_total``:
windows described (quality, score, features), by kind of stream; ``kafka_consumer_lag``: per
topic and partition, the messages of the worker's consumer group not yet committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("brrr.worker.metrics")

PROCESSING = Histogram(
    "eeg_processing_duration_seconds",
    "Time from a job's start to its result, seconds, by analysis type.",
    ["analysis_type"],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
INFERENCE = Histogram(
    "model_inference_duration_seconds",
    "Time of one model call (an EEGPT micro-batch), seconds.",
    ["model"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WINDOWS = Counter(
    "eeg_windows_processed_total",
    "Windows described (quality, provisional score, features), by stream kind (file, live).",
    ["stream"],
)
LAG = Gauge(
    "kafka_consumer_lag",
    "Messages of the worker's consumer group not yet committed, per topic and partition.",
    ["topic", "partition"],
)


def serve_metrics(address: str) -> tuple[WSGIServer, str] | None:
    """Start the metrics server on ``host:port``; a port already taken (another worker on
    the machine) falls back to a free one. Returns the server and its URL, or None when
    ``address`` is empty."""
    if not address:
        return None
    host, _, port = address.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), addr=host)
    except OSError as exc:
        server, _thread = start_http_server(0, addr=host)
        log.warning(
            "metrics: %s is taken (%s); serving on port %d instead",
            address,
            exc,
            server.server_port,
        )
    url = f"http://{host}:{server.server_port}/metrics"
    log.info("metrics at %s", url)
    return server, url


def measure_lag(bootstrap_servers: str, group: str, topics: Iterable[str]) -> None:
    """Set ``kafka_consumer_lag`` for every partition of ``topics`` (blocking: run it in a
    thread). A partition with no committed offset counts all its messages."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 3000})
    metadata = admin.list_topics(timeout=5)
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        if topic in metadata.topics
        for p in metadata.topics[topic].partitions
    ]
    consumer = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    try:
        for tp in consumer.committed(partitions, timeout=5):
            low, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            committed = tp.offset if tp.offset >= 0 else low
            LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - committed))
    finally:
        consumer.close()


def _expose_every_series() -> None:
    """Create each labelled series at zero, so a scrape shows every metric from the start
    (a labelled metric is otherwise absent until its first observation)."""
    INFERENCE.labels(model="eegpt")
    for stream in ("file", "live"):
        WINDOWS.labels(stream=stream)
    for analysis_type in ("quick", "screening", "comprehensive"):
        PROCESSING.labels(analysis_type=analysis_type)


_expose_every_series()
