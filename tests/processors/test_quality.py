"""Quality control: bad channels, artifact windows, repair, AutoReject, stream calibration.

Every detector test injects a known fault into the synthetic background of
``processors.synthetic`` and checks that it is found, where, with which reason, and that the
clean background raises nothing.
"""

from __future__ import annotations

import json
import warnings

import mne
import numpy as np
import pytest

from processors.errors import NonFiniteSamples, RecordingTooShort, WrongSamplingRate
from processors.quality import (
    QCInputError,
    QCThresholds,
    StreamQC,
    assess_quality,
    assess_window_stream,
    calibrate_thresholds,
    detect_bad_channels,
    flag_artifact_windows,
    montage_origin_m,
    repair_windows,
)
from processors.synthetic import STANDARD_1020_19, InjectedEvent, generate_eeg
from processors.types import MODEL_SFREQ_HZ, WINDOW_SAMPLES, WindowBatch

SF = MODEL_SFREQ_HZ


def _batch(data_uv: np.ndarray, ch_names, first_index: int = 0) -> WindowBatch:
    """Consecutive 4 s windows of a continuous ``(n_ch, n)`` array."""
    n_w = data_uv.shape[1] // WINDOW_SAMPLES
    x = data_uv[:, : n_w * WINDOW_SAMPLES].reshape(len(ch_names), n_w, WINDOW_SAMPLES)
    idx = np.arange(first_index, first_index + n_w)
    return WindowBatch(
        data_uv=x.transpose(1, 0, 2).astype(np.float32),
        ch_names=list(ch_names),
        sfreq_hz=SF,
        start_s=idx * WINDOW_SAMPLES / SF,
        index=idx,
    )


def test_flat_and_noisy_channels_found_with_reason() -> None:
    sim = generate_eeg(120.0, seed=1, bad_channels={"T7": "flat", "O1": "noisy"})
    bads = detect_bad_channels(sim.data_uv, SF, sim.ch_names)
    assert set(bads) == {"T7", "O1"}
    assert bads["T7"] == "flat"
    # 60 uV broadband noise plus mains: far too large and full of >45 Hz power
    assert bads["O1"].split("+")[:2] == ["deviation", "hf_noise"]


def test_uncorrelated_channel_found_as_low_correlation() -> None:
    sim = generate_eeg(120.0, seed=2)
    other = generate_eeg(120.0, seed=99)
    data = sim.data_uv.copy()
    i = sim.ch_names.index("C4")
    # Same spectrum and amplitude as a C4, but unrelated to this head's neighbours.
    data[i] = other.data_uv[i] * (sim.data_uv[i].std() / other.data_uv[i].std())
    bads = detect_bad_channels(data, SF, sim.ch_names)
    assert bads == {"C4": "low_correlation"}


def test_line_noise_channel_found_as_hf_noise() -> None:
    sim = generate_eeg(120.0, seed=3)
    data = sim.data_uv.copy()
    t = np.arange(data.shape[1]) / SF
    i = sim.ch_names.index("F4")
    data[i] += 12.0 * np.sin(2 * np.pi * 60.0 * t) + np.random.default_rng(0).normal(0, 4.0, t.size)
    bads = detect_bad_channels(data, SF, sim.ch_names)
    assert list(bads) == ["F4"]
    assert bads["F4"].startswith("hf_noise") or "hf_noise" in bads["F4"].split("+")


@pytest.mark.parametrize("seed", [0, 5, 11, 23])
def test_clean_recording_has_no_bad_channels_and_is_acceptable(seed: int) -> None:
    sim = generate_eeg(120.0, seed=seed)
    assert detect_bad_channels(sim.data_uv, SF, sim.ch_names) == {}
    res = assess_quality(_batch(sim.data_uv, sim.ch_names))
    assert res.bad_channels == {}
    assert res.is_acceptable
    assert res.signal_quality_score >= 0.9
    assert res.artifact_window_percent <= 10.0


def test_half_the_channels_bad_is_not_acceptable() -> None:
    chosen = STANDARD_1020_19[::2]  # 10 of 19
    kinds = {ch: ("flat" if k % 2 else "noisy") for k, ch in enumerate(chosen)}
    sim = generate_eeg(120.0, seed=4, bad_channels=kinds)
    res = assess_quality(_batch(sim.data_uv, sim.ch_names))
    assert set(res.bad_channels) >= set(chosen)
    assert not res.is_acceptable
    assert res.signal_quality_score < 0.5
    assert "channels bad" in res.acceptability_reason
    # ... and never dropped: the montage stays whole
    assert res.repaired.ch_names == list(sim.ch_names)


def test_ransac_on_a_dense_montage() -> None:
    # RANSAC runs from 32 positioned channels up; a channel carrying the signal of a far
    # electrode (a swapped lead) has a normal amplitude and spectrum but is mispredicted.
    names = [
        "Fp1", "Fp2", "AF3", "AF4", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2",
        "FC6", "T7", "C3", "Cz", "C4", "T8", "CP5", "CP1", "CP2", "CP6", "P7", "P3", "Pz",
        "P4", "P8", "PO3", "PO4", "O1", "Oz", "O2",
    ]  # fmt: skip
    sim = generate_eeg(60.0, seed=6, ch_names=names, blinks=False)
    assert detect_bad_channels(sim.data_uv, SF, names) == {}
    data = sim.data_uv.copy()
    data[names.index("FC1")] = sim.data_uv[names.index("O2")]
    bads = detect_bad_channels(data, SF, names)
    assert "FC1" in bads and "ransac" in bads["FC1"].split("+")
    assert set(bads) <= {"FC1", "O2"}


# --------------------------------------------------------------------------------------
# repair


def test_repair_interpolates_from_neighbours_and_keeps_the_montage() -> None:
    clean = generate_eeg(120.0, seed=7)
    broken = generate_eeg(120.0, seed=7, bad_channels={"O1": "noisy"})
    res = assess_quality(_batch(broken.data_uv, broken.ch_names))
    assert set(res.bad_channels) == {"O1"}
    assert res.repaired.ch_names == list(broken.ch_names)
    assert res.repaired.data_uv.shape == _batch(broken.data_uv, broken.ch_names).data_uv.shape
    i = broken.ch_names.index("O1")
    truth = _batch(clean.data_uv, clean.ch_names).data_uv[:, i].ravel()
    r = float(np.corrcoef(res.repaired.data_uv[:, i].ravel(), truth)[0, 1])
    print(f"O1 interpolated vs clean O1: r = {r:.3f}")
    assert r > 0.8
    # the good channels are untouched
    others = [k for k in range(len(broken.ch_names)) if k != i]
    np.testing.assert_array_equal(
        res.repaired.data_uv[:, others],
        _batch(broken.data_uv, broken.ch_names).data_uv[:, others],
    )


def test_repair_matches_mne_interpolate_bads() -> None:
    sim = generate_eeg(16.0, seed=8)
    b = _batch(sim.data_uv, sim.ch_names)
    ours = repair_windows(b, ["C3", "P8"])
    raw = sim.to_raw()
    raw.info["bads"] = ["C3", "P8"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw.interpolate_bads(reset_bads=True, origin=montage_origin_m(), verbose="error")
    theirs = _batch(raw.get_data() * 1e6, sim.ch_names)
    np.testing.assert_allclose(ours.data_uv, theirs.data_uv, atol=1e-3)


def test_repair_rejects_unknown_channel() -> None:
    sim = generate_eeg(8.0, seed=0)
    with pytest.raises(QCInputError, match="not among"):
        repair_windows(_batch(sim.data_uv, sim.ch_names), ["Xx9"])


# --------------------------------------------------------------------------------------
# artifact windows


def test_artifact_windows_flagged_where_injected() -> None:
    events = [
        InjectedEvent("blink", 41.0, 0.35, amplitude_uv=600.0),  # window 10
        InjectedEvent("muscle", 81.0, 2.0, channels=("T7", "F7"), amplitude_uv=40.0),  # 20
    ]
    sim = generate_eeg(160.0, seed=9, events=events)
    data = sim.data_uv.copy()
    # an electrode pop on C3 in window 30: a 250 uV step decaying over 0.5 s
    k = sim.ch_names.index("C3")
    s0 = int(121.3 * SF)
    t = np.arange(int(0.5 * SF)) / SF
    data[k, s0 : s0 + t.size] += 250.0 * np.exp(-t / 0.15)
    res = assess_quality(_batch(data, sim.ch_names))
    flagged = {int(w): res.window_reasons[w] for w in np.flatnonzero(res.window_flags)}
    assert set(flagged) == {10, 20, 30}, flagged
    assert "amplitude" in flagged[10]
    assert "muscle" in flagged[20]
    assert "jump" in flagged[30]
    assert res.artifact_window_percent == pytest.approx(100 * 3 / 40)
    assert res.is_acceptable


def test_flat_stretch_flags_its_window() -> None:
    sim = generate_eeg(80.0, seed=10)
    data = sim.data_uv.copy()
    k = sim.ch_names.index("Pz")
    data[k, int(50 * SF) : int(51.5 * SF)] = 3.0  # 1.5 s of a stuck amplifier, window 12
    b = _batch(data, sim.ch_names)
    thr = calibrate_thresholds(_batch(sim.data_uv, sim.ch_names))
    wf = flag_artifact_windows(b, thresholds=thr)
    assert list(np.flatnonzero(wf.flags)) == [12]
    assert wf.reasons[12] == ["flat"]
    assert wf.channel_mask[12, k] and wf.channel_mask[12].sum() == 1


# --------------------------------------------------------------------------------------
# AutoReject


def test_autoreject_runs_on_a_small_input_and_keeps_channels() -> None:
    sim = generate_eeg(
        48.0, seed=12, events=[InjectedEvent("blink", 20.5, 0.3, amplitude_uv=500.0)]
    )
    b = _batch(sim.data_uv, sim.ch_names)
    res = assess_quality(b, use_autoreject=True)
    assert res.autoreject_used and res.autoreject_error is None
    assert res.repaired.ch_names == list(sim.ch_names)
    assert res.repaired.data_uv.shape == b.data_uv.shape
    assert res.autoreject_interpolated.shape == b.data_uv.shape[:2]
    report = res.to_dict()
    assert report["autoreject_used"] is True
    assert report["autoreject_interpolated_channel_windows"] >= 1
    # too few windows for 3-fold CV: QC still completes and says why
    short = assess_quality(b.select(slice(0, 2)), use_autoreject=True)
    assert not short.autoreject_used and "at least 3 windows" in short.autoreject_error


# --------------------------------------------------------------------------------------
# live streams


def test_stream_calibrated_thresholds_catch_a_channel_going_bad() -> None:
    sim = generate_eeg(300.0, seed=13)
    data = sim.data_uv.copy()
    rng = np.random.default_rng(1)
    t8, p3 = sim.ch_names.index("T8"), sim.ch_names.index("P3")
    data[t8, int(180 * SF) :] = rng.normal(0.0, 0.1, data.shape[1] - int(180 * SF))  # flat
    data[p3, int(240 * SF) :] += rng.normal(0.0, 60.0, data.shape[1] - int(240 * SF))  # noisy
    b = _batch(data, sim.ch_names)
    thr = calibrate_thresholds(b.select(slice(0, 30)))  # the first 2 minutes
    assert thr.ch_names == tuple(sim.ch_names) and thr.calibrated_s == pytest.approx(120.0)
    before = assess_window_stream(b.select(slice(30, 45)), thr)  # 2:00-3:00
    after_flat = assess_window_stream(b.select(slice(45, 60)), thr)  # 3:00-4:00
    after_noisy = assess_window_stream(b.select(slice(60, 75)), thr)  # 4:00-5:00
    assert before.bad_channels == {}
    assert after_flat.bad_channels == {"T8": "flat"}
    assert list(after_noisy.bad_channels) == ["T8", "P3"]
    assert "deviation" in after_noisy.bad_channels["P3"]
    # a single new window is judged with the same thresholds
    one = assess_window_stream(b.select(slice(70, 71)), thr)
    assert one.bad_channels.get("T8") == "flat" and "P3" in one.bad_channels


def test_whole_file_and_windowed_qc_agree() -> None:
    sim = generate_eeg(300.0, seed=14, bad_channels={"T7": "flat", "O1": "noisy"})
    whole = detect_bad_channels(sim.data_uv, SF, sim.ch_names)
    b = _batch(sim.data_uv, sim.ch_names)
    assert set(assess_quality(b).bad_channels) == set(whole) == {"T7", "O1"}
    thr = calibrate_thresholds(b.select(slice(0, 30)))
    for lo in range(30, 75, 15):  # one-minute chunks after calibration
        chunk = assess_window_stream(b.select(slice(lo, lo + 15)), thr)
        assert set(chunk.bad_channels) == set(whole), (lo, chunk.bad_channels)
        assert chunk.repaired.ch_names == list(sim.ch_names)


def test_single_window_and_rolling_stream_chunks() -> None:
    # One window at a time, clean windows rarely report a bad channel. A channel that stops
    # following its neighbours (same amplitude and spectrum) needs more than 4 s of evidence:
    # with a rolling one-minute buffer it is caught within 50 s and stays caught.
    sim = generate_eeg(300.0, seed=18)
    other = generate_eeg(300.0, seed=77)
    data = sim.data_uv.copy()
    k = sim.ch_names.index("C4")
    data[k, int(240 * SF) :] = other.data_uv[k, int(240 * SF) :] * (
        data[k].std() / other.data_uv[k].std()
    )
    b = _batch(data, sim.ch_names)
    thr = calibrate_thresholds(b.select(slice(0, 30)))
    clean_hits = [
        w
        for w in range(30, 60)
        if assess_window_stream(b.select(slice(w, w + 1)), thr).bad_channels
    ]
    print(f"clean single windows with a bad channel: {len(clean_hits)} of 30")
    assert len(clean_hits) <= 2
    rolling = {
        w: assess_window_stream(b.select(slice(w - 14, w + 1)), thr).bad_channels
        for w in range(45, 75)
    }
    assert all(rolling[w] == {} for w in range(45, 60)), rolling
    hits = [w for w in range(60, 75) if "low_correlation" in rolling[w].get("C4", "")]
    print(f"rolling buffer: C4 flagged from window {hits[0] if hits else None} (change at 60)")
    assert hits and hits[0] <= 72 and hits == list(range(hits[0], 75))
    assert all(set(rolling[w]) <= {"C4"} for w in range(60, 75))


def test_stream_qc_judges_each_new_window_as_on_its_whole_context() -> None:
    # StreamQC keeps the per-window measures of its minute of context and repairs, flags
    # and scores only the new window: the same verdict as judging the whole context afresh
    # and keeping its last window, through a channel going flat and a noisy one.
    sim = generate_eeg(180.0, seed=19)
    data = sim.data_uv.copy()
    rng = np.random.default_rng(4)
    o2, f3 = sim.ch_names.index("O2"), sim.ch_names.index("F3")
    data[o2, int(100 * SF) :] = rng.normal(0.0, 0.1, data.shape[1] - int(100 * SF))
    data[f3, int(130 * SF) :] += rng.normal(0.0, 60.0, data.shape[1] - int(130 * SF))
    data[:, int(150 * SF) : int(151 * SF)] += 400.0  # a movement artifact on every channel
    b = _batch(data, sim.ch_names)
    stream = StreamQC()
    flagged = []
    for w in range(b.n_windows):
        qc = stream.push(b.select(slice(w, w + 1)))
        if w < 15:  # calibrating on the first minute
            continue
        assert stream.thresholds is not None
        context = b.select(slice(w - 15, w + 1))  # the minute before, and the new window
        fresh = assess_window_stream(context, stream.thresholds, new_windows=1)
        assert qc.bad_channels == fresh.bad_channels, w
        assert qc.window_flags.tolist() == fresh.window_flags.tolist(), w
        np.testing.assert_array_equal(qc.repaired.data_uv, fresh.repaired.data_uv)
        flagged += [w] if qc.window_flags[0] else []
    assert qc.bad_channels.get("O2") == "flat" and "F3" in qc.bad_channels
    # F3's noise flags its windows from 130 s until F3 is found bad (and repaired); the
    # movement at 150 s is flagged; nothing before the noise.
    assert 37 in flagged and min(flagged) == 32 and max(flagged) < 42, flagged


def test_thresholds_round_trip_through_json() -> None:
    sim = generate_eeg(40.0, seed=15, bad_channels={"Cz": "flat"})
    thr = calibrate_thresholds(_batch(sim.data_uv, sim.ch_names))
    assert np.isnan(thr.channel_noisiness[sim.ch_names.index("Cz")])  # no baseline: bad
    back = QCThresholds.from_dict(json.loads(json.dumps(thr.to_dict(), allow_nan=False)))
    assert back.ch_names == thr.ch_names
    np.testing.assert_allclose(back.ptp_max_uv, thr.ptp_max_uv)
    np.testing.assert_allclose(back.channel_noisiness, thr.channel_noisiness)  # NaN included
    assert back.amplitude_spread == thr.amplitude_spread


# --------------------------------------------------------------------------------------
# the report and bad input


def test_report_is_json_and_complete() -> None:
    sim = generate_eeg(40.0, seed=16, bad_channels={"Fz": "flat"})
    report = assess_quality(_batch(sim.data_uv, sim.ch_names)).to_dict()
    json.dumps(report)
    for key in (
        "bad_channels", "bad_channel_reasons", "signal_quality_score", "is_acceptable",
        "artifact_window_percent", "n_windows", "n_artifact_windows", "autoreject_used",
    ):  # fmt: skip
        assert key in report
    assert report["bad_channels"] == ["Fz"] and report["bad_channel_reasons"] == {"Fz": "flat"}
    assert report["n_windows"] == 10
    assert 0.0 <= report["signal_quality_score"] <= 1.0


def test_bad_input_gets_typed_errors() -> None:
    sim = generate_eeg(8.0, seed=0)
    x = sim.data_uv.copy()
    with pytest.raises(QCInputError, match="channel names"):
        detect_bad_channels(x, SF, sim.ch_names[:-1])
    with pytest.raises(QCInputError, match="channels, samples"):
        detect_bad_channels(x[None], SF, sim.ch_names)
    with pytest.raises(WrongSamplingRate, match="resample"):
        detect_bad_channels(x, 50.0, sim.ch_names)
    with pytest.raises(RecordingTooShort):
        detect_bad_channels(x[:, :100], SF, sim.ch_names)
    x[3, 50] = np.nan
    with pytest.raises(NonFiniteSamples, match="F3"):
        detect_bad_channels(x, SF, sim.ch_names)
    b = _batch(sim.data_uv, sim.ch_names)
    with pytest.raises(QCInputError, match="calibrate"):
        assess_window_stream(b, QCThresholds())
    thr = calibrate_thresholds(b)
    other = WindowBatch(b.data_uv[:, ::-1], b.ch_names[::-1], SF, b.start_s, b.index)
    with pytest.raises(QCInputError, match="calibrated on channels"):
        assess_window_stream(other, thr)


def test_mne_is_not_asked_to_interpolate_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # repair is one matrix product for all windows: MNE's interpolate_bads is never called
    called = []
    monkeypatch.setattr(
        mne.channels.channels.InterpolationMixin,
        "interpolate_bads",
        lambda *a, **k: called.append(1),
    )
    sim = generate_eeg(40.0, seed=17, bad_channels={"C3": "noisy"})
    res = assess_quality(_batch(sim.data_uv, sim.ch_names))
    assert "C3" in res.bad_channels and called == []


def test_degenerate_inputs_complete_with_a_verdict() -> None:
    sim = generate_eeg(20.0, seed=19)
    dead = assess_quality(_batch(np.zeros_like(sim.data_uv), sim.ch_names))
    assert dead.bad_channels == dict.fromkeys(sim.ch_names, "flat")
    assert not dead.is_acceptable and dead.signal_quality_score == 0.0
    # a bad channel with no standard position cannot be interpolated: kept, and reported
    names = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2"]
    x = generate_eeg(20.0, seed=20, ch_names=names).data_uv
    x = np.vstack([x, np.zeros((1, x.shape[1]))])
    res = assess_quality(_batch(x, [*names, "X1"]))
    assert res.bad_channels == {"X1": "flat"}
    assert res.unrepaired_channels == ["X1"] and res.to_dict()["unrepaired_channels"] == ["X1"]
    assert res.repaired.ch_names == [*names, "X1"]
