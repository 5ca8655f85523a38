"""``brrr alerts follow``: the urgent-triage topic, as a pager or a nurse-station screen
sees it.

Each follower reads every partition of the topic by itself (assigned, not through a consumer
group), so several followers each see every alert. An alert delivered twice (the stream is
at least once) is shown once: alerts are told apart by their episode id and status.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

from connectors.kafka_topics import Topics, ensure_topics
from connectors.settings import Settings
from schemas.codec import CodecError, decode
from schemas.records import UrgentAlert

log = logging.getLogger(__name__)


def format_alert(alert: UrgentAlert) -> str:
    """One readable line: what, where, since when, how sure."""
    when = alert["onset_time"].isoformat(timespec="seconds") if alert["onset_time"] else "-"
    what = alert["finding"].replace("_", " ").upper()
    line = (
        f"{alert['emitted_at']:%H:%M:%S} URGENT {what} {alert['status']} on "
        f"{alert['recording_id']} (device {alert['device_id'] or '-'}, patient "
        f"{(alert['patient_ref'] or '-')[:12]}): onset {alert['onset_s']:.1f} s ({when}), "
        f"confidence {alert['confidence']:.2f}, evidence complete at "
        f"{alert['evidence_end_s']:.0f} s (window {alert['evidence_window']})"
    )
    if alert["status"] == "ended" and alert["end_s"] is not None:
        line += f", ended at {alert['end_s']:.1f} s"
    return line


def alert_json(alert: UrgentAlert) -> str:
    """One JSON line (times as ISO 8601)."""

    def default(value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    return json.dumps(dict(alert), default=default, sort_keys=True)


def follow_alerts(
    settings: Settings,
    *,
    recording_id: str | None = None,
    from_beginning: bool = False,
    stop: Callable[[], bool] = lambda: False,
    poll_s: float = 0.5,
) -> Iterator[UrgentAlert]:
    """Every alert as it arrives (once per episode and status), until ``stop()``."""
    topics = Topics(settings.kafka_namespace)
    ensure_topics(settings.kafka_bootstrap_servers, {topics.alerts: 1})
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": topics.group(f"brrr-alerts-follow-{uuid.uuid4().hex[:8]}"),
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    seen: set[tuple[str, str]] = set()
    try:
        # Every partition assigned by hand, not through the consumer group: a follower reads
        # everything anyway, and a group member that lost its coordinator (a broker down for
        # half a minute) was seen never to fetch again after the broker came back.
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        partitions = consumer.list_topics(topics.alerts, timeout=10).topics[topics.alerts]
        consumer.assign(
            [TopicPartition(topics.alerts, p, start) for p in sorted(partitions.partitions)]
        )
        while not stop():
            message = consumer.poll(poll_s)
            if message is None:
                continue
            if message.error() is not None:
                # A broker that is down or restarting is waited for (the client reconnects
                # by itself); only an error the client cannot recover from ends the follow.
                if message.error().fatal():
                    raise RuntimeError(f"reading {topics.alerts}: {message.error()}")
                if message.error().code() != KafkaError._PARTITION_EOF:
                    log.warning(
                        "reading %s: %s (waiting for the broker)", topics.alerts, message.error()
                    )
                continue
            try:
                alert: UrgentAlert = decode("UrgentAlert", message.value())  # type: ignore[assignment]
            except CodecError:
                continue
            key = (alert["alert_id"], alert["status"])
            if key in seen or (recording_id and alert["recording_id"] != recording_id):
                continue
            seen.add(key)
            yield alert
    finally:
        consumer.close()
