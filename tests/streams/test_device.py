"""The bedside simulator and the live windowing, without a broker."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from schemas.codec import decode, encode
from streams.device import (
    DeviceSpecError,
    Misbehaviour,
    make_devices,
    parse_event,
    stream_devices,
)
from streams.segments import segment_samples_uv, window_batch
from streams.windowing import RecordingWindowers


def _devices(seconds: float, **faults: object):
    return make_devices(
        count=1,
        seconds=seconds,
        patient_ref_of=lambda ident: f"ref-{len(ident)}",
        faults=Misbehaviour(**faults),  # type: ignore[arg-type]
        seed=4,
    )


def _window(segments) -> tuple[list, dict]:
    table: dict = {}
    windowers = RecordingWindowers(table)
    out = []
    for offset, (_due, segment) in enumerate(segments):
        wire = decode("EEGSegment", encode("EEGSegment", dict(segment)))
        out += windowers.push(wire, 0, offset)
    return out, table


def test_events_parse_and_bad_specs_say_how() -> None:
    seizure = parse_event("seizure@120")
    assert (seizure.kind, seizure.onset_s, seizure.duration_s) == ("seizure", 120.0, 30.0)
    lpd = parse_event("PLED@300+20")
    assert (lpd.kind, lpd.onset_s, lpd.duration_s) == ("lpd", 300.0, 20.0)
    with pytest.raises(DeviceSpecError, match="kind@onset_s"):
        parse_event("seizure-120")
    with pytest.raises(DeviceSpecError, match="needs --seconds"):
        make_devices(count=1, seconds=None, patient_ref_of=str)


def test_device_segments_are_one_second_of_int16_on_the_device_clock() -> None:
    (device,) = _devices(10.0)
    segments = [s for _due, s in device.segments()]
    assert len(segments) == 10 and all(s["n_samples"] == 256 for s in segments)
    first, second = segments[0], segments[1]
    assert first["encoding"] == "int16" and first["device_id"] == "bed-001"
    assert (second["start_time"] - first["start_time"]).total_seconds() == 1.0
    np.testing.assert_allclose(segment_samples_uv(first), device.data_uv[:, :256], atol=0.051)


def test_duplicates_and_out_of_order_segments_give_each_window_once() -> None:
    (clean,) = _devices(40.0)
    (messy,) = _devices(40.0, duplicate_every=3, reorder_every=4)
    sent = [s["sequence"] for _due, s in messy.segments()]
    assert len(sent) > 40 and sent != sorted(sent)  # really duplicated and reordered
    expected, _ = _window(clean.segments())
    got, table = _window(messy.segments())
    assert [w["window_index"] for w in got] == [w["window_index"] for w in expected]
    np.testing.assert_array_equal(window_batch(got).data_uv, window_batch(expected).data_uv)
    assert next(iter(table.values()))["gaps"] == []


def test_a_gap_is_recorded_and_windowing_starts_again_after_it() -> None:
    (device,) = _devices(60.0, gap_at_s=20.0, gap_s=6.0)
    windows, table = _window(device.segments())
    indexes = [w["window_index"] for w in windows]
    # windows 0-4 before the gap (0-20 s); none overlapping 20-26 s; then from 28 s on
    assert indexes[:5] == [0, 1, 2, 3, 4] and 5 not in indexes and 6 not in indexes
    assert indexes[5] == 7 and indexes[-1] == 14
    assert next(iter(table.values()))["gaps"] == [[20.0, 26.0]]


def test_a_reconnection_resends_and_loses_nothing_but_its_pause() -> None:
    (device,) = _devices(40.0, reconnect_at_s=10.0, reconnect_pause_s=3.0)
    windows, table = _window(device.segments())
    assert [w["window_index"] for w in windows] == list(range(10))  # held, then delivered
    assert next(iter(table.values()))["gaps"] == []


def test_a_lead_off_channel_becomes_flat_and_is_named() -> None:
    (device,) = _devices(20.0, nan_channel="O1", bad_from_s=8.0)
    windows, table = _window(device.segments())
    assert len(windows) == 5
    batch = window_batch(windows)
    o1 = batch.ch_names.index("O1")
    assert np.abs(batch.data_uv[3:, o1]).max() < 1e-3  # flat from 8 s, not NaN
    assert np.isfinite(batch.data_uv).all()
    assert next(iter(table.values()))["lead_off"] == ["O1"]


def test_stream_qc_calibration_is_handed_on_and_restored_after_a_restart() -> None:
    """The window that calibrates a live stream's QC carries the thresholds (kept in the
    live table); a restarted worker's checks judge with them from its first window."""
    import json

    from connectors.settings import Settings
    from streams.pipeline import ModelCache
    from streams.window_analysis import WindowDescriber

    (device,) = _devices(100.0)
    windows, _ = _window(device.segments())
    models = ModelCache(Settings(model_checkpoint_path=None, allow_random_weights=False))
    first = WindowDescriber(models)
    described = []
    for start in range(0, 20, 4):
        described += first.check_live(windows[start : start + 4])
    carrying = [d for d in described if d["qc_calibration"] is not None]
    assert len(carrying) == 1 and carrying[0]["window_index"] == 15  # the first minute
    thresholds = json.loads(carrying[0]["qc_calibration"])
    restarted = WindowDescriber(models)
    key = windows[20]["recording_id"]
    assert restarted.unknown_streams(windows[20:21]) == {key}
    again = restarted.check_live(windows[20:21], {key: thresholds})
    assert restarted._qc[key].calibrated and again[0]["qc_calibration"] is None


def test_live_checks_need_no_eegpt_and_eegpt_needs_no_checks() -> None:
    """A live window's checks (score, artifact flag, bad channels) come without features,
    and its EEGPT features without the checks: the two travel apart, so the verdict and the
    alerts never wait for the transformer."""
    from connectors.settings import Settings
    from streams.pipeline import ModelCache
    from streams.window_analysis import WindowDescriber

    (device,) = _devices(40.0, flat_channel="O1")
    windows, _ = _window(device.segments())
    settings = Settings(model_checkpoint_path=None, allow_random_weights=True)
    describer = WindowDescriber(ModelCache(settings, torch_threads=1))
    checked = describer.check_live(windows[:4])
    featured = describer.describe(windows[:4])
    assert [c["window_index"] for c in checked] == [f["window_index"] for f in featured]
    assert all(c["features"] == b"" and c["weights_id"] is None for c in checked)
    assert all(0.0 <= c["provisional_score"] <= 1.0 for c in checked)
    assert all("O1" in c["provisional_bad_channels"] for c in checked)
    assert all(len(f["features"]) > 0 and f["weights_id"] == "random-dev" for f in featured)
    assert all(f["provisional_score"] is None for f in featured)


def test_staggered_devices_start_spread_over_the_given_seconds() -> None:
    # Two monitors switched on 2 s apart: the second's segments follow the first's by 2 s.
    devices = make_devices(count=2, seconds=2, patient_ref_of=lambda name: name, seed=3)
    order: list[tuple[str, int]] = []

    def send(segment: dict) -> None:
        order.append((segment["device_id"], segment["sequence"]))

    asyncio.run(stream_devices(devices, send, seconds=2, speed=200.0, stagger_s=4.0))
    assert order == [("bed-001", 0), ("bed-001", 1), ("bed-002", 0), ("bed-002", 1)]
    order.clear()
    asyncio.run(stream_devices(devices, send, seconds=2, speed=200.0))
    assert order == [("bed-001", 0), ("bed-002", 0), ("bed-001", 1), ("bed-002", 1)]


def _logged(device) -> list[tuple[int, dict]]:
    """A device's segments as the log holds them (offset, segment), through the codec."""
    return [
        (offset, decode("EEGSegment", encode("EEGSegment", dict(segment))))
        for offset, (_due, segment) in enumerate(device.segments())
    ]


def _read_back(log: list[tuple[int, dict]], span: tuple[int, int]) -> dict[int, dict]:
    first, last = span
    return {offset: segment for offset, segment in log if first <= offset <= last}


def test_a_table_behind_the_committed_offsets_is_caught_up_from_the_log() -> None:
    """Faust may commit the segments' offsets before the windower's changelog write is out:
    a worker that takes over then finds the stream's state some segments behind where the
    partition resumes. It reads the segments in between back and sends their windows, so
    no window is lost (the ones sent before are sent again, and counted once downstream)."""
    (device,) = _devices(40.0)
    log = _logged(device)
    reference, _ = _window(device.segments())
    table: dict = {}
    windowers = RecordingWindowers(table)
    out = []
    for offset, segment in log[:13]:
        out += windowers.push(segment, 0, offset)
    stale = {key: dict(value) for key, value in table.items()}  # the changelog at 13 s
    for offset, segment in log[13:24]:  # windowed, offsets committed, changelog lost
        out += windowers.push(segment, 0, offset)
    taken_over = RecordingWindowers(stale)
    resumed = log[24][1]
    span = taken_over.read_back_span(resumed, 24)
    assert span == (12, 23)  # the held 12-13 s, then what the stale table missed
    again = taken_over.rebuild(resumed, _read_back(log, span))
    assert [w["window_index"] for w in again] == [3, 4, 5]  # 12-24 s, windowed again
    for offset, segment in log[24:]:
        again += taken_over.push(segment, 0, offset)
    by_index = {w["window_index"]: w for w in out[:3] + again}
    assert sorted(by_index) == [w["window_index"] for w in reference]
    assert all(by_index[w["window_index"]]["samples"] == w["samples"] for w in reference)
    (value,) = stale.values()
    assert value["gaps"] == []


def test_a_live_stream_taken_over_reads_its_held_samples_back_from_the_log() -> None:
    """A live stream's windower is held in memory; its table value keeps its position and
    the log offsets of the segments whose samples it holds, never the samples. A worker
    that takes the stream over (a rebalance, a restart) reads them back and cuts the same
    windows as a worker that never stopped."""
    (device,) = _devices(40.0, reorder_every=7)
    log = _logged(device)
    reference, _ = _window(device.segments())
    table: dict = {}
    windowers = RecordingWindowers(table)
    out, rebuilt = [], 0
    for offset, segment in log:
        if offset == 9:  # a rebalance took the partition away and gave it back
            windowers.forget_partitions({0})
        if offset == 22:  # a new worker, from the table's changelog
            windowers = RecordingWindowers(table)
        span = windowers.read_back_span(segment, offset)
        if span is not None:
            out += windowers.rebuild(segment, _read_back(log, span))
            rebuilt += 1
        out += windowers.push(segment, 0, offset)
    assert rebuilt == 2
    assert [w["window_index"] for w in out] == [w["window_index"] for w in reference]
    for ours, theirs in zip(out, reference, strict=True):
        assert ours["samples"] == theirs["samples"]
    (value,) = table.values()
    assert value["windower"]["buffer_f32"] == ""  # offsets (in rebuilt), never samples
    assert len(json.dumps(value)) < 4000  # rewritten every second for every device


def test_held_samples_the_log_lost_leave_a_recorded_gap() -> None:
    (device,) = _devices(40.0)
    log = _logged(device)
    table: dict = {}
    windowers = RecordingWindowers(table)
    for offset, segment in log[:10]:
        windowers.push(segment, 0, offset)
    taken_over = RecordingWindowers(table)
    segment = log[10][1]
    assert taken_over.read_back_span(segment, 10) == (8, 9)  # 8-10 s, after the 4-8 s window
    assert taken_over.rebuild(segment, {}) == []  # retention removed them
    out = []
    for offset, later in log[10:]:
        out += taken_over.push(later, 0, offset)
    (value,) = table.values()
    assert value["gaps"] == [[8.0, 10.0]]
    assert [w["window_index"] for w in out][:1] == [3]  # 12-16 s: the first whole after it
