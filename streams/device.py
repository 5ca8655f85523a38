"""``brrr device``: bedside monitors, simulated, streaming live EEG into ``eeg.segments``.

Each device streams one recording in 1 s segments of int16 counts with a fixed gain per
channel (as a monitor's amplifier does), stamped with the device clock, at real time or
``speed`` times faster. The EEG comes from a file (once or looped) or from the synthetic
generator with events at chosen times. For the tests a device can misbehave on request: a
gap of several seconds, a reconnection (the connection drops, then the segments held
meanwhile arrive in a burst with the last ones sent again), duplicated and out-of-order
segments, a flat or NaN channel.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from processors.io import read_recording
from processors.synthetic import InjectedEvent, generate_eeg
from schemas.records import EEGSegment
from streams.segments import NAN_COUNT

#: Microvolts per count of the simulated amplifier (range +-3.3 mV at 16 bits).
GAIN_UV_PER_COUNT = 0.1
SEGMENT_S = 1.0


class DeviceSpecError(ValueError):
    """A device request that cannot be simulated; the message says what to change."""

    code = "invalid_device_spec"


def parse_event(spec: str, *, duration_s: float = 30.0) -> InjectedEvent:
    """``kind@onset_s[+duration_s]`` (``seizure@120``, ``lpd@300+20``) as an event."""
    try:
        kind, when = spec.split("@", 1)
        onset, _, length = when.partition("+")
        kind = {"pled": "lpd", "gped": "gpd"}.get(kind.lower(), kind.lower())
        spike = kind in ("spike", "sharp_wave")
        default = 0.05 if spike else duration_s
        return InjectedEvent(kind, onset_s=float(onset), duration_s=float(length or default))
    except ValueError:
        raise DeviceSpecError(
            f"event {spec!r} is not kind@onset_s[+duration_s], e.g. seizure@120 or lpd@300+20"
        ) from None


@dataclass(frozen=True)
class Misbehaviour:
    """Faults a simulated device injects (times in seconds of its recording)."""

    gap_at_s: float | None = None
    gap_s: float = 5.0
    reconnect_at_s: float | None = None
    reconnect_pause_s: float = 3.0
    duplicate_every: int = 0
    reorder_every: int = 0
    flat_channel: str | None = None
    nan_channel: str | None = None
    bad_from_s: float = 0.0


@dataclass
class Device:
    """One simulated monitor and the recording it streams."""

    device_id: str
    recording_id: str
    patient_ref: str
    data_uv: np.ndarray
    sfreq_hz: float
    ch_names: list[str]
    start_time: datetime
    loop: bool = False
    faults: Misbehaviour = field(default_factory=Misbehaviour)

    def segments(self, seconds: float | None = None) -> Iterator[tuple[float, EEGSegment]]:
        """``(due_s, segment)`` in sending order; ``due_s`` is when, on the recording's
        clock, the segment leaves the device."""
        f = self.faults
        held: EEGSegment | None = None  # sent after its successor (out of order)
        recent: list[EEGSegment] = []  # the last ones sent, sent again on reconnection
        backlog: list[tuple[float, EEGSegment]] = []  # held while disconnected
        for due_s, segment in self._timeline(seconds):
            t_s = segment["first_sample"] / self.sfreq_hz
            if f.gap_at_s is not None and f.gap_at_s <= t_s < f.gap_at_s + f.gap_s:
                continue  # lost on the way: the device clock moves on
            if f.reconnect_at_s is not None and f.reconnect_at_s <= t_s:
                back_s = f.reconnect_at_s + f.reconnect_pause_s
                if t_s < back_s:
                    backlog.append((back_s, segment))
                    continue
                if backlog:  # reconnected: the last ones sent before, then the backlog
                    yield from ((back_s, s) for s in recent[-2:])
                    yield from backlog
                    backlog = []
            n = f.reorder_every
            if n and held is None and segment["sequence"] % n == n - 1:
                held = segment
                continue
            yield due_s, segment
            recent.append(segment)
            if held is not None:
                yield due_s, held
                recent.append(held)
                held = None
            if f.duplicate_every and segment["sequence"] % f.duplicate_every == 0:
                yield due_s, segment
            del recent[:-4]
        yield from backlog  # the stream ended while disconnected, or on a held segment
        if held is not None:
            yield (held["first_sample"] + held["n_samples"]) / self.sfreq_hz, held

    def _timeline(self, seconds: float | None) -> Iterator[tuple[float, EEGSegment]]:
        per = round(SEGMENT_S * self.sfreq_hz)
        n_total = self.data_uv.shape[1]
        limit = None if seconds is None else round(seconds * self.sfreq_hz)
        sequence, first = 0, 0
        while (limit is None or first < limit) and (self.loop or first + per <= n_total):
            yield (first + per) / self.sfreq_hz, self._segment(sequence, first, per)
            sequence, first = sequence + 1, first + per

    def _segment(self, sequence: int, first: int, per: int) -> EEGSegment:
        n_total = self.data_uv.shape[1]
        idx = (np.arange(first, first + per) % n_total) if self.loop else slice(first, first + per)
        chunk = np.array(self.data_uv[:, idx], dtype=np.float64)
        f = self.faults
        if first / self.sfreq_hz >= f.bad_from_s:
            if f.flat_channel is not None:
                chunk[self.ch_names.index(f.flat_channel)] = 0.0
            if f.nan_channel is not None:
                chunk[self.ch_names.index(f.nan_channel)] = np.nan
        # The amplifier's int16 counts; a NaN (lead off) is sent as the code for it.
        counts = np.clip(np.round(chunk / GAIN_UV_PER_COUNT), -32767, 32767)
        counts = np.where(np.isnan(chunk), NAN_COUNT, counts).astype("<i2")
        return EEGSegment(
            recording_id=self.recording_id,
            job_id=None,
            attempt=0,
            analysis_type="screening",
            sequence=sequence,
            first_sample=first,
            start_time=self.start_time + timedelta(seconds=first / self.sfreq_hz),
            sfreq_hz=self.sfreq_hz,
            ch_names=list(self.ch_names),
            n_samples=per,
            encoding="int16",
            scale_uv=[GAIN_UV_PER_COUNT] * len(self.ch_names),
            samples=counts.tobytes(),
            is_last=False,
            expected_samples=None,
            source_format=None,
            set_aside_channels=[],
            device_id=self.device_id,
            patient_ref=self.patient_ref,
        )


def make_devices(
    *,
    count: int,
    seconds: float | None,
    patient_ref_of: Callable[[str], str],
    file: Path | None = None,
    loop: bool = False,
    events: Sequence[InjectedEvent] = (),
    faults: Misbehaviour = Misbehaviour(),
    seed: int = 0,
    prefix: str = "bed",
) -> list[Device]:
    """``count`` devices, each its own recording and patient, from a file or synthetic."""
    if file is None and seconds is None:
        raise DeviceSpecError("a synthetic device needs --seconds (or stream a --file)")
    started = datetime.now(UTC).replace(microsecond=0)
    session = started.strftime("%Y%m%dT%H%M%S")
    devices = []
    for i in range(count):
        device_id = f"{prefix}-{i + 1:03d}"
        if file is not None:
            recording = read_recording(file)
            data_uv, sfreq, names = (
                recording.raw.get_data() * 1e6,
                recording.sfreq_hz,
                recording.ch_names,
            )
        else:
            sim = generate_eeg(
                float(seconds), events=list(events), seed=seed + i, start_time=started
            )
            data_uv, sfreq, names = sim.data_uv, sim.sfreq_hz, list(sim.ch_names)
        # A new recording at every start of a device (its session), unique across hosts.
        digest = hashlib.sha256(
            f"{device_id}|{session}|{seed}|{uuid.uuid4()}".encode()
        ).hexdigest()[:8]
        devices.append(
            Device(
                device_id=device_id,
                recording_id=f"live-{device_id}-{session}-{digest}",
                patient_ref=patient_ref_of(f"simulated patient {device_id} {seed + i}"),
                data_uv=data_uv.astype(np.float32),
                sfreq_hz=sfreq,
                ch_names=list(names),
                start_time=started,
                loop=loop,
                faults=faults,
            )
        )
    return devices


async def stream_devices(
    devices: Sequence[Device],
    send: Callable[[EEGSegment], None],
    *,
    seconds: float | None,
    speed: float = 1.0,
    on_segment: Callable[[EEGSegment], None] | None = None,
    stagger_s: float = 0.0,
) -> int:
    """Send every device's segments at ``speed`` times real time; returns how many.

    ``stagger_s`` spreads the devices' starts evenly over that many seconds (device ``i`` of
    ``n`` starts ``i * stagger_s / n`` later): monitors switched on at different moments
    complete their windows at different moments, not all in the same instant.
    """
    t0 = time.monotonic()
    streams = [d.segments(seconds) for d in devices]
    heads: list[tuple[float, int, EEGSegment] | None] = [None] * len(streams)
    sent = 0
    delay_s = [i * stagger_s / max(1, len(devices)) for i in range(len(devices))]

    def advance(i: int) -> None:
        item = next(streams[i], None)
        heads[i] = None if item is None else (item[0] + delay_s[i] * speed, i, item[1])

    for i in range(len(streams)):
        advance(i)
    while any(h is not None for h in heads):
        due, i, segment = min(h for h in heads if h is not None)
        await asyncio.sleep(max(0.0, t0 + due / speed - time.monotonic()))
        send(segment)
        sent += 1
        if on_segment is not None:
            on_segment(segment)
        advance(i)
    return sent
