"""Preprocessing and windowing: exact window times, filters, and file/stream equality."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.fft

from processors.errors import NoEEGChannels, NonFiniteSamples, WrongSamplingRate
from processors.io import read_recording, recording_from_array
from processors.montage import STANDARD_1020_19
from processors.preprocessing import (
    StreamChunkError,
    StreamWindower,
    _gain,
    condition_windows,
    cut_windows,
    detect_line_frequency,
    prepare_recording,
    window_recording,
)
from processors.synthetic import generate_eeg
from processors.types import WINDOW_SAMPLES, Recording, WindowBatch

NK_FILE = "nihon_kohden_clinical_19ch_200hz.edf"
BCI_FILE = "openbci_sleep_125hz.bdf"
TOLERANCE_UV = 1e-3


def _sines(freqs_hz: list[float], amps_uv: list[float], sfreq_hz: float, n: int) -> np.ndarray:
    t = np.arange(n) / sfreq_hz
    return sum(a * np.sin(2 * np.pi * f * t + 0.3) for f, a in zip(freqs_hz, amps_uv, strict=True))


def _one_window(x_uv: np.ndarray, sfreq_hz: float, **kwargs: float | None) -> np.ndarray:
    batch = WindowBatch(
        data_uv=x_uv[None, None].astype(np.float32),
        ch_names=["Cz"],
        sfreq_hz=sfreq_hz,
        start_s=np.zeros(1),
        index=np.zeros(1, dtype=np.int64),
    )
    return condition_windows(batch, n_samples_out=WINDOW_SAMPLES, **kwargs).data_uv[0, 0]


def _stream(recording: Recording, chunk: int, **kwargs: object) -> WindowBatch:
    """Push a recording through a StreamWindower in chunks of ``chunk`` samples."""
    data_uv = recording.raw.get_data() * 1e6
    windower = StreamWindower(recording.ch_names, recording.sfreq_hz, **kwargs)
    batches = []
    for first in range(0, data_uv.shape[1], chunk):
        out = windower.push(data_uv[:, first : first + chunk], first, sfreq_hz=recording.sfreq_hz)
        if out is not None:
            batches.append(out)
    return WindowBatch(
        data_uv=np.concatenate([b.data_uv for b in batches]),
        ch_names=batches[0].ch_names,
        sfreq_hz=batches[0].sfreq_hz,
        start_s=np.concatenate([b.start_s for b in batches]),
        index=np.concatenate([b.index for b in batches]),
    )


@pytest.fixture(scope="module")
def synthetic_200hz() -> Recording:
    eeg = generate_eeg(60.0, sfreq_hz=200.0, line_freq_hz=50.0, seed=3)
    return recording_from_array(eeg.data_uv, eeg.sfreq_hz, eeg.ch_names, "syn200", eeg.start_time)


# --------------------------------------------------------------------------- cutting windows


def test_cut_windows_exact_starts_and_partial_window_dropped() -> None:
    sfreq_hz = 200.0
    data_uv = np.arange(3 * 2100, dtype=np.float64).reshape(3, 2100)  # 10.5 s
    batch = cut_windows(data_uv, sfreq_hz, ["Fz", "Cz", "Pz"], window_s=4.0, stride_s=2.0)
    # windows at 0, 2, 4, 6 s end at 4, 6, 8, 10 s; the one at 8 s would end at 12 s > 10.5 s
    np.testing.assert_array_equal(batch.index, [0, 1, 2, 3])
    np.testing.assert_array_equal(batch.start_s, [0.0, 2.0, 4.0, 6.0])
    assert batch.data_uv.shape == (4, 3, 800) and batch.data_uv.dtype == np.float32
    for k, start_s in enumerate(batch.start_s):
        first = int(start_s * sfreq_hz)
        np.testing.assert_array_equal(batch.data_uv[k], data_uv[:, first : first + 800])


def test_cut_windows_shorter_than_a_window_gives_none() -> None:
    batch = cut_windows(np.zeros((2, 799)), 200.0, ["Fz", "Cz"])
    assert batch.n_windows == 0 and batch.data_uv.shape == (0, 2, 800)


def test_window_recording_real_file_times(real_data_dir: Path) -> None:
    rec = read_recording(real_data_dir / NK_FILE)  # 29 s at 200 Hz
    batch = window_recording(rec)
    assert batch.data_uv.shape == (7, 19, WINDOW_SAMPLES)  # 7 whole windows, 1 s dropped
    assert batch.sfreq_hz == 256.0 and batch.data_uv.dtype == np.float32
    np.testing.assert_array_equal(batch.start_s, 4.0 * np.arange(7))
    np.testing.assert_array_equal(batch.index, np.arange(7))
    assert batch.ch_names == rec.ch_names
    assert batch.recording_start == rec.start_time
    overlapping = window_recording(rec, stride_s=1.0)
    assert overlapping.n_windows == 26  # starts 0..25 s, each ending by 29 s
    np.testing.assert_array_equal(overlapping.start_s, np.arange(26.0))


def test_event_lands_at_its_time_in_the_window() -> None:
    """A sharp transient at a known time appears at that time in the 256 Hz window."""
    sfreq_hz = 200.0
    n = int(20 * sfreq_hz)
    t = np.arange(n) / sfreq_hz
    t0_s = 9.37  # inside window 2 (8-12 s)
    data = 100.0 * np.exp(-0.5 * ((t - t0_s) / 0.02) ** 2)
    rec = recording_from_array(np.vstack([data, data]), sfreq_hz, ["Cz", "Pz"], "ev")
    batch = window_recording(rec)
    peak = int(np.argmax(batch.data_uv[2, 0]))
    expected = (t0_s - batch.start_s[2]) * 256.0
    assert abs(peak - expected) <= 1.0
    assert np.abs(batch.data_uv[[0, 1, 3, 4], 0]).max() < 1.0  # nothing in the other windows


# --------------------------------------------------------------------------- the filters


@pytest.mark.parametrize("sfreq_hz", [125.0, 200.0, 256.0, 500.0, 173.61])
def test_passband_kept_and_stopband_removed(sfreq_hz: float) -> None:
    n = round(4.0 * sfreq_hz)
    # 1024 output samples span the n native ones (at 173.61 Hz, 3.9975 s: nearest sample)
    t_out = np.arange(WINDOW_SAMPLES) * (n / sfreq_hz) / WINDOW_SAMPLES
    interior = slice(128, -128)  # the window's edges carry the per-window filter's transients
    # worst case over phases; slow waves lose most to the window's edges and drift removal
    for f_hz, tolerance in ((2.0, 0.10), (5.0, 0.05), (10.0, 0.05), (20.0, 0.05), (35.0, 0.05)):
        for phase in np.linspace(0.0, 2 * np.pi, 4, endpoint=False):
            x = 40.0 * np.sin(2 * np.pi * f_hz * np.arange(n) / sfreq_hz + phase)
            y = _one_window(x, sfreq_hz)
            # the documented response: forward-backward 4th-order Butterworth, 0.5-45 Hz
            gain = 1.0 / (1.0 + (0.5 / f_hz) ** 8) / (1.0 + (f_hz / 45.0) ** 8)
            ref = gain * 40.0 * np.sin(2 * np.pi * f_hz * t_out + phase)
            assert np.abs(y - ref)[interior].max() < tolerance * 40.0, (f_hz, phase)
    # mains (50/60 Hz), slow drift and offset go; fast activity above the band is cut
    junk = _sines([50.0, 60.0], [80.0, 80.0], sfreq_hz, n) + 500.0 + 30.0 * np.arange(n) / n
    assert np.abs(_one_window(junk, sfreq_hz)).max() < 1.0
    if sfreq_hz > 160:  # fast activity (muscle): gone inside, edge transients remain
        fast = _one_window(_sines([75.0], [40.0], sfreq_hz, n), sfreq_hz)
        assert np.abs(fast[interior]).max() < 1.0


def test_gain_is_the_documented_butterworth_response() -> None:
    n_fft, sfreq_hz = 4000, 1000.0
    freqs = np.fft.rfftfreq(n_fft, 1 / sfreq_hz)
    gain = _gain(n_fft, sfreq_hz, 0.5, 45.0, 50.0)
    at = {f: gain[np.argmin(np.abs(freqs - f))] for f in (0.5, 10.0, 45.0, 50.0, 90.0)}
    assert at[0.5] == pytest.approx(0.5, abs=0.01)  # -6 dB at each edge (two passes)
    assert at[45.0] == pytest.approx(0.5, abs=0.02)  # the 50 Hz notch takes 2.5% more
    assert at[10.0] == pytest.approx(1.0, abs=1e-3)
    assert at[50.0] < 1e-6 and at[90.0] < 5e-3


def test_windows_match_continuous_filtering_above_the_slow_band() -> None:
    """Per-window conditioning against the same filters run over the whole signal."""
    sfreq_hz, n = 200.0, 120 * 200
    rng = np.random.default_rng(7)
    spectrum = scipy.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sfreq_hz)
    spectrum[(freqs < 2.0) | (freqs > 40.0)] = 0  # activity between 2 and 40 Hz
    x = scipy.fft.irfft(spectrum, n)
    x = x / x.std() * 30.0 + _sines([50.0], [20.0], sfreq_hz, n)
    # the continuous reference: same zero-phase gain on the whole signal, then resampled
    whole = scipy.fft.rfft(x) * _gain(n, sfreq_hz, 0.5, 45.0, None)
    n_out = int(n * 256 / sfreq_hz)
    resized = np.zeros(n_out // 2 + 1, dtype=complex)
    resized[: whole.size] = whole
    reference = scipy.fft.irfft(resized, n_out) * (n_out / n)
    rec = recording_from_array(np.vstack([x, x]), sfreq_hz, ["Cz", "Pz"], "cont")
    batch = window_recording(rec)
    corr = [
        np.corrcoef(batch.data_uv[k, 0], reference[k * 1024 : (k + 1) * 1024])[0, 1]
        for k in range(batch.n_windows)
    ]
    print(f"per-window vs continuous, 2-40 Hz activity: min correlation {min(corr):.4f}")
    assert min(corr) > 0.99


def test_realistic_background_conditioned_sensibly(synthetic_200hz: Recording) -> None:
    batch = window_recording(synthetic_200hz)
    assert batch.data_uv.shape == (15, 19, WINDOW_SAMPLES)
    rms_uv = np.sqrt((batch.data_uv**2).mean(axis=-1))
    assert np.all((rms_uv > 2.0) & (rms_uv < 200.0))
    assert np.abs(batch.data_uv.mean(axis=-1)).max() < 0.1 * rms_uv.mean()
    freqs = np.fft.rfftfreq(WINDOW_SAMPLES, 1 / 256.0)
    power = (np.abs(np.fft.rfft(batch.data_uv, axis=-1)) ** 2).mean(axis=(0, 1))
    line = power[np.abs(freqs - 50.0) < 0.3].max()
    alpha = power[(freqs > 8) & (freqs < 12)].mean()
    assert line < 1e-3 * alpha


# --------------------------------------------------------------------------- file vs stream


@pytest.mark.parametrize("chunk", [123, 1000, 7, 800])
def test_stream_equals_whole_file_real_200hz(real_data_dir: Path, chunk: int) -> None:
    rec = read_recording(real_data_dir / NK_FILE)
    whole = window_recording(rec)
    streamed = _stream(rec, chunk)
    np.testing.assert_array_equal(streamed.index, whole.index)
    np.testing.assert_array_equal(streamed.start_s, whole.start_s)
    assert streamed.ch_names == whole.ch_names
    assert np.abs(streamed.data_uv - whole.data_uv).max() < TOLERANCE_UV


def test_stream_equals_whole_file_real_125hz_overlapping(real_data_dir: Path) -> None:
    rec = read_recording(real_data_dir / BCI_FILE)
    whole = window_recording(rec, stride_s=2.0)
    streamed = _stream(rec, 77, stride_s=2.0)
    np.testing.assert_array_equal(streamed.index, whole.index)
    np.testing.assert_array_equal(streamed.start_s, whole.start_s)
    diff = np.abs(streamed.data_uv - whole.data_uv).max()
    print(f"125 Hz, 2 s stride, chunks of 77: {whole.n_windows} windows, max diff {diff:.2e} uV")
    assert diff < TOLERANCE_UV


def test_stream_equals_whole_file_at_an_odd_rate() -> None:
    sfreq_hz = 173.61  # the Bonn data set's rate: 4 s is not a whole number of samples
    rng = np.random.default_rng(1)
    data_uv = rng.normal(0, 20, (3, int(30 * sfreq_hz)))
    rec = recording_from_array(data_uv, sfreq_hz, ["F3", "Cz", "O2"], "odd")
    whole = window_recording(rec)
    streamed = _stream(rec, 250)
    assert whole.data_uv.shape[-1] == WINDOW_SAMPLES
    np.testing.assert_array_equal(streamed.index, whole.index)
    assert np.abs(streamed.data_uv - whole.data_uv).max() < TOLERANCE_UV


def test_stream_drops_non_eeg_rows_like_the_file_path() -> None:
    rng = np.random.default_rng(2)
    data_uv = rng.normal(0, 20, (4, 2000))
    names = ["ECG", "EEG Fp1-Ref", "Trigger", "EEG T3-Ref"]
    rec = recording_from_array(data_uv, 200.0, names, "mixed")
    whole = window_recording(rec)
    windower = StreamWindower(names, 200.0)
    assert windower.ch_names == ["Fp1", "T7"]
    out = windower.push(data_uv, 0)
    assert out is not None and out.ch_names == ["Fp1", "T7"]
    assert np.abs(out.data_uv - whole.data_uv).max() < TOLERANCE_UV


def test_stream_redelivered_chunks_are_ignored(synthetic_200hz: Recording) -> None:
    data_uv = synthetic_200hz.raw.get_data() * 1e6
    whole = window_recording(synthetic_200hz)
    windower = StreamWindower(synthetic_200hz.ch_names, 200.0)
    batches = []
    for first in range(0, data_uv.shape[1], 500):
        batches.append(windower.push(data_uv[:, first : first + 500], first))
        # Kafka at-least-once: the same chunk again, and one overlapping the last one
        assert windower.push(data_uv[:, first : first + 500], first) is None
        if first >= 300:
            assert windower.push(data_uv[:, first - 300 : first + 200], first - 300) is None
    data = np.concatenate([b.data_uv for b in batches if b is not None])
    assert np.abs(data - whole.data_uv).max() < TOLERANCE_UV


def test_stream_gap_raises_or_restarts(synthetic_200hz: Recording) -> None:
    data_uv = synthetic_200hz.raw.get_data() * 1e6
    whole = window_recording(synthetic_200hz)
    windower = StreamWindower(synthetic_200hz.ch_names, 200.0)
    windower.push(data_uv[:, :1000], 0)
    with pytest.raises(
        StreamChunkError, match="expected sample 1000, got a chunk starting at 1500"
    ):
        windower.push(data_uv[:, 1500:2000], 1500)
    # restart: windows overlapping the lost samples (index 1, 4-8 s) never appear; later ones
    # keep their global index and equal the file path's
    windower = StreamWindower(synthetic_200hz.ch_names, 200.0, on_gap="restart")
    first = windower.push(data_uv[:, :1000], 0)
    rest = windower.push(data_uv[:, 1500:], 1500)
    assert first is not None and rest is not None
    np.testing.assert_array_equal(first.index, [0])
    np.testing.assert_array_equal(rest.index, np.arange(2, 15))
    np.testing.assert_array_equal(rest.start_s, 4.0 * np.arange(2, 15))
    assert np.abs(rest.data_uv - whole.data_uv[2:]).max() < TOLERANCE_UV


def test_stream_starting_mid_recording_keeps_the_global_grid(synthetic_200hz: Recording) -> None:
    data_uv = synthetic_200hz.raw.get_data() * 1e6
    whole = window_recording(synthetic_200hz)
    windower = StreamWindower(synthetic_200hz.ch_names, 200.0, start_sample=1234)
    out = windower.push(data_uv[:, 1234:], 1234)
    assert out is not None
    np.testing.assert_array_equal(out.index, np.arange(2, 15))  # first window at 8 s
    assert np.abs(out.data_uv - whole.data_uv[2:]).max() < TOLERANCE_UV


def test_stream_state_survives_pickling(synthetic_200hz: Recording) -> None:
    data_uv = synthetic_200hz.raw.get_data() * 1e6
    whole = window_recording(synthetic_200hz)
    windower = StreamWindower(synthetic_200hz.ch_names, 200.0)
    windower.push(data_uv[:, :1300], 0)
    restored = pickle.loads(pickle.dumps(windower))
    out = restored.push(data_uv[:, 1300:2500], 1300)
    assert out is not None
    np.testing.assert_array_equal(out.index, [1, 2])
    assert np.abs(out.data_uv - whole.data_uv[1:3]).max() < TOLERANCE_UV


def test_stream_chunk_validation() -> None:
    names = ["Fz", "Cz", "Pz"]
    windower = StreamWindower(names, 200.0)
    with pytest.raises(StreamChunkError, match="3 rows"):
        windower.push(np.zeros((2, 100)), 0)
    with pytest.raises(StreamChunkError, match="3 rows"):
        windower.push(np.zeros(100), 0)
    with pytest.raises(WrongSamplingRate, match="256 Hz arrived in a stream at 200 Hz"):
        windower.push(np.zeros((3, 100)), 0, sfreq_hz=256.0)
    bad = np.zeros((3, 100))
    bad[1, 5:8] = np.nan
    with pytest.raises(NonFiniteSamples, match="Cz: 3"):
        windower.push(bad, 0)
    with pytest.raises(StreamChunkError, match=">= 0"):
        windower.push(np.zeros((3, 10)), -5)
    assert windower.next_sample == 0  # nothing was taken from the rejected chunks
    assert windower.push(np.zeros((3, 0)), 0) is None


def test_stream_construction_errors() -> None:
    with pytest.raises(NoEEGChannels, match="ECG"):
        StreamWindower(["ECG", "EOG"], 200.0)
    with pytest.raises(WrongSamplingRate):
        StreamWindower(["Cz"], 50.0)


def test_twenty_minutes_window_and_condition_fast() -> None:
    sfreq_hz = 200.0
    rng = np.random.default_rng(0)
    data_uv = rng.normal(0, 20, (19, int(20 * 60 * sfreq_hz)))
    rec = recording_from_array(data_uv, sfreq_hz, list(STANDARD_1020_19), "speed")
    window_recording(rec)  # warm caches
    t0 = time.perf_counter()
    batch = window_recording(rec)
    elapsed_s = time.perf_counter() - t0
    print(
        f"20 min, 19 ch, 200 Hz: {batch.n_windows} windows cut and conditioned in {elapsed_s:.3f} s"
    )
    assert batch.data_uv.shape == (300, 19, WINDOW_SAMPLES)
    assert elapsed_s < 2.0


# --------------------------------------------------------------------------- continuous path


@pytest.mark.parametrize("line_hz", [50.0, 60.0, None])
def test_detect_line_frequency(line_hz: float | None) -> None:
    eeg = generate_eeg(30.0, sfreq_hz=250.0, line_freq_hz=line_hz, seed=5, ch_names=["Cz", "Pz"])
    assert detect_line_frequency(eeg.data_uv, eeg.sfreq_hz) == line_hz


def test_prepare_recording_is_continuous_256hz_and_clean() -> None:
    eeg = generate_eeg(40.0, sfreq_hz=200.0, line_freq_hz=60.0, seed=4, ch_names=["C3", "O1"])
    start = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
    drift_uv = 300.0 + 200.0 * np.linspace(0.0, 1.0, eeg.data_uv.shape[1])  # offset and drift
    rec = recording_from_array(
        eeg.data_uv + drift_uv, 200.0, eeg.ch_names, "prep", start_time=start
    )
    prepared = prepare_recording(rec)
    assert prepared.sfreq_hz == 256.0
    assert prepared.raw.n_times == 40 * 256
    assert prepared.recording_id == "prep" and prepared.ch_names == ["C3", "O1"]
    assert prepared.start_time == start
    assert prepared.raw.info["line_freq"] == 60.0
    assert rec.sfreq_hz == 200.0  # the input is not modified
    data_uv = prepared.raw.get_data() * 1e6
    freqs = np.fft.rfftfreq(data_uv.shape[1], 1 / 256.0)
    power = np.abs(np.fft.rfft(data_uv, axis=-1)) ** 2
    alpha = power[:, (freqs > 8) & (freqs < 12)].mean()
    assert power[:, np.abs(freqs - 60.0) < 0.2].max() < 1e-3 * alpha
    assert power[:, freqs < 0.2].sum() < 1e-2 * power.sum()
    assert np.abs(data_uv.mean(axis=1)).max() < 2.0


def test_windower_state_round_trip_continues_exactly(synthetic_200hz) -> None:
    """A windower saved mid-stream as plain values (a Faust table) and restored gives the
    windows it would have given without the interruption."""
    data_uv = synthetic_200hz.raw.get_data() * 1e6
    whole = StreamWindower(synthetic_200hz.ch_names, 200.0)
    split = StreamWindower(synthetic_200hz.ch_names, 200.0)
    expected, got = [], []
    for first in range(0, data_uv.shape[1], 333):
        chunk = data_uv[:, first : first + 333]
        expected.append(whole.push(chunk, first))
        got.append(split.push(chunk, first))
        split = StreamWindower.from_state(split.to_state())
    expected = [b for b in expected if b is not None]
    got = [b for b in got if b is not None]
    assert len(got) == len(expected) > 10
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.data_uv, b.data_uv)
    assert split.next_sample == whole.next_sample
