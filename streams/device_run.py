"""Running simulated devices against the real broker (``brrr device``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import click

from connectors.db.jobs import patient_reference
from connectors.kafka_topics import RecordProducer, Topics, ensure_topics
from connectors.settings import Settings
from schemas.records import EEGSegment
from streams.device import Device, Misbehaviour, make_devices, parse_event, stream_devices


def build_devices(
    settings: Settings,
    *,
    file: Path | None,
    loop: bool,
    events: Sequence[str],
    count: int,
    seconds: float | None,
    seed: int,
    faults: Misbehaviour,
) -> list[Device]:
    """The devices asked for, each with its own recording and patient reference."""
    key = settings.patient_ref_key.encode()
    return make_devices(
        count=count,
        seconds=seconds,
        patient_ref_of=lambda identifier: patient_reference(identifier, key),
        file=file,
        loop=loop,
        events=[parse_event(e) for e in events],
        faults=faults,
        seed=seed,
    )


async def run_devices(
    settings: Settings,
    *,
    file: Path | None,
    loop: bool,
    events: Sequence[str],
    count: int,
    seconds: float | None,
    speed: float,
    seed: int,
    faults: Misbehaviour,
    quiet: bool = False,
) -> tuple[int, list[str]]:
    """Stream the devices until their end (or Ctrl-C); returns the segments sent and the
    devices' recordings."""
    topics = Topics(settings.kafka_namespace)
    await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap_servers, topics.partitions)
    devices = await asyncio.to_thread(
        build_devices,
        settings,
        file=file,
        loop=loop,
        events=events,
        count=count,
        seconds=seconds,
        seed=seed,
        faults=faults,
    )
    if not quiet:
        for d in devices:
            click.echo(
                f"device {d.device_id}: recording {d.recording_id}, {len(d.ch_names)} "
                f"channels at {d.sfreq_hz:g} Hz, speed x{speed:g}"
            )
    producer = RecordProducer(settings.kafka_bootstrap_servers)

    def send(segment: EEGSegment) -> None:
        producer.send(topics.segments, "EEGSegment", segment["recording_id"], segment)

    try:
        sent = await stream_devices(devices, send, seconds=seconds, speed=speed)
        return sent, [d.recording_id for d in devices]
    finally:
        await asyncio.to_thread(producer.flush)
