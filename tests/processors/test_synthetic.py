"""The synthetic EEG generator: realistic background, injected events, ground truth, EDF."""

from __future__ import annotations

import time
from pathlib import Path

import mne
import numpy as np
import pytest
from scipy import signal

from processors.errors import EEGError, WrongSamplingRate
from processors.synthetic import (
    STANDARD_1020_19,
    InjectedEvent,
    SyntheticSpecError,
    generate_eeg,
)


def _band_power(x: np.ndarray, sfreq: float, lo: float, hi: float) -> np.ndarray:
    f, p = signal.welch(x, fs=sfreq, nperseg=min(int(4 * sfreq), x.shape[-1]), axis=-1)
    sel = (f >= lo) & (f < hi)
    return p[..., sel].sum(axis=-1)


def _idx(sim, name: str) -> int:
    return sim.ch_names.index(name)


def test_deterministic_given_seed() -> None:
    a = generate_eeg(20.0, seed=4, events=[InjectedEvent("spike", 5.0, 0.05)])
    b = generate_eeg(20.0, seed=4, events=[InjectedEvent("spike", 5.0, 0.05)])
    c = generate_eeg(20.0, seed=5, events=[InjectedEvent("spike", 5.0, 0.05)])
    np.testing.assert_array_equal(a.data_uv, b.data_uv)
    assert a.events == b.events
    assert not np.allclose(a.data_uv, c.data_uv)


def test_twenty_minutes_is_fast() -> None:
    t0 = time.perf_counter()
    sim = generate_eeg(1200.0, muscle=True, seed=1)
    elapsed = time.perf_counter() - t0
    assert sim.data_uv.shape == (19, 1200 * 256)
    assert sim.data_uv.dtype == np.float64
    assert elapsed < 4.0, f"20 min took {elapsed:.2f} s"


def test_background_is_realistic() -> None:
    sim = generate_eeg(120.0, blinks=False, line_freq_hz=None, seed=2)
    x, sf = sim.data_uv, sim.sfreq_hz
    assert list(sim.ch_names) == list(STANDARD_1020_19)
    rms = x.std(axis=1)
    assert np.all((rms > 5) & (rms < 50)), rms
    # aperiodic decay: more power at 2-4 Hz than at 25-40 Hz, on every channel
    assert np.all(_band_power(x, sf, 2, 4) > 5 * _band_power(x, sf, 25, 40))
    # posterior alpha: O1/O2 carry far more 8-12 Hz power than Fp1/Fp2, and a spectral peak
    alpha = _band_power(x, sf, 8, 12)
    assert alpha[_idx(sim, "O1")] > 4 * alpha[_idx(sim, "Fp1")]
    assert alpha[_idx(sim, "O2")] > 4 * alpha[_idx(sim, "Fp2")]
    o1 = x[_idx(sim, "O1")]
    assert _band_power(o1, sf, 8, 12) > 1.5 * _band_power(o1, sf, 4, 8)
    # volume conduction: neighbours correlate more than distant electrodes
    c = np.corrcoef(x)
    assert c[_idx(sim, "F3"), _idx(sim, "C3")] > c[_idx(sim, "Fp1"), _idx(sim, "O2")] + 0.2


def test_blinks_and_muscle_and_line_noise() -> None:
    sim = generate_eeg(60.0, muscle=True, seed=3, line_freq_hz=50.0)
    blinks = sim.events_of("blink")
    assert 4 <= len(blinks) <= 30  # about 12 per minute
    fp1 = sim.data_uv[_idx(sim, "Fp1")]
    o1 = sim.data_uv[_idx(sim, "O1")]
    ratio = []
    for ev in blinks:
        seg = slice(int(ev.onset_s * 256), int((ev.onset_s + ev.duration_s) * 256))
        assert fp1[seg].max() - np.median(fp1) > 60
        assert {"Fp1", "Fp2"} <= set(ev.channels)
        ratio.append(np.ptp(fp1[seg]) / np.ptp(o1[seg]))
    assert np.median(ratio) > 1.5  # frontal, not posterior
    for ev in sim.events_of("muscle"):
        ch = ev.channels[0]
        seg = sim.data_uv[_idx(sim, ch), int(ev.onset_s * 256) : int(ev.offset_s * 256)]
        assert _band_power(seg, 256, 20, 70) > _band_power(seg, 256, 1, 20)
    assert sim.events_of("muscle")
    # line noise: exactly a 50 Hz sinusoid of 0.5-3 uV per channel on top of the rest
    quiet = generate_eeg(60.0, muscle=True, seed=3, line_freq_hz=None)
    mains = sim.data_uv - quiet.data_uv
    f, p = signal.periodogram(mains, fs=256, axis=-1)
    assert np.all(f[np.argmax(p, axis=1)] == 50.0)
    assert np.all((mains.std(axis=1) * np.sqrt(2) > 0.4) & (mains.std(axis=1) * np.sqrt(2) < 3.1))


def test_bad_channels() -> None:
    sim = generate_eeg(30.0, bad_channels={"T7": "flat", "O2": "noisy"}, seed=0)
    rms = sim.data_uv.std(axis=1)
    assert rms[_idx(sim, "T7")] < 1.0
    assert rms[_idx(sim, "O2")] > 3 * np.median(rms)
    assert sim.bad_channels == {"T7": "flat", "O2": "noisy"}


def test_spike_and_sharp_wave_ground_truth() -> None:
    evs = [
        InjectedEvent("spike", 10.0, 0.05),
        InjectedEvent("sharp_wave", 20.0, 0.12, ("C3", "P3")),
    ]
    sim = generate_eeg(30.0, events=evs, blinks=False, seed=7)
    spike, sharp = sim.events_of("spike")[0], sim.events_of("sharp_wave")[0]
    assert len(spike.channels) >= 2  # a field, not a single electrode
    assert sharp.channels == ("C3", "P3")
    for ev in (spike, sharp):
        assert ev.truth_onsets_s == (ev.onset_s,)
        rows = [_idx(sim, c) for c in ev.channels]
        peak = int((ev.onset_s + ev.duration_s / 2) * 256)
        x = sim.data_uv[rows]
        base = np.median(x[:, peak - 256 : peak + 256], axis=1)
        depth = base - x[:, peak - 2 : peak + 3].min(axis=1)
        assert depth.max() > 90 and np.all(depth > 30)  # surface negative, over a field


def test_periodic_discharges() -> None:
    evs = [InjectedEvent("lpd", 5.0, 10.0), InjectedEvent("gpd", 20.0, 8.0, rate_hz=2.0)]
    sim = generate_eeg(30.0, events=evs, seed=11)
    lpd, gpd = sim.events_of("lpd")[0], sim.events_of("gpd")[0]
    for ev, rate in ((lpd, 1.0), (gpd, 2.0)):
        onsets = np.array(ev.truth_onsets_s)
        assert len(onsets) >= 6
        iti = np.diff(onsets)
        assert abs(iti.mean() - 1 / rate) < 0.1 / rate and iti.std() / iti.mean() < 0.15
    left = {"Fp1", "F7", "F3", "T7", "C3", "P7", "P3", "O1"}
    right = {"Fp2", "F8", "F4", "T8", "C4", "P8", "P4", "O2"}
    lpd_side = set(lpd.channels) - {"Fz", "Cz", "Pz"}
    assert lpd_side <= left or lpd_side <= right
    assert set(gpd.channels) == set(sim.ch_names)


def test_evolving_seizure() -> None:
    sim = generate_eeg(60.0, events=[InjectedEvent("seizure", 20.0, 30.0)], blinks=False, seed=5)
    sz = sim.events_of("seizure")[0]
    i = _idx(sim, sz.channels[0])
    early = sim.data_uv[i, 21 * 256 : 29 * 256]
    late = sim.data_uv[i, 41 * 256 : 49 * 256]
    f_e, p_e = signal.welch(early, fs=256, nperseg=1024)
    f_l, p_l = signal.welch(late, fs=256, nperseg=1024)
    band = (f_e >= 2.5) & (f_e <= 10)
    assert f_e[band][np.argmax(p_e[band])] > f_l[band][np.argmax(p_l[band])] + 1.0  # slows
    assert late.std() > 1.5 * early.std()  # grows
    assert late.std() > 3 * sim.data_uv[i, : 18 * 256].std()


def test_burst_suppression() -> None:
    sim = generate_eeg(90.0, events=[InjectedEvent("burst_suppression", 10.0, 70.0)], seed=9)
    bs = sim.events_of("burst_suppression")[0]
    assert len(bs.truth_onsets_s) >= 3
    assert all(0.5 <= d <= 30 for d in bs.truth_durations_s)
    sos = signal.butter(4, [0.5, 30], btype="bandpass", fs=256, output="sos")
    x = signal.sosfiltfilt(sos, sim.data_uv, axis=1)
    mask = np.zeros(x.shape[1], bool)
    mask[int(10.5 * 256) : int(79.5 * 256)] = True
    for on, d in zip(bs.truth_onsets_s, bs.truth_durations_s, strict=True):
        mask[int((on - 0.5) * 256) : int((on + d + 0.5) * 256)] = False
        seg = x[:, int(on * 256) : int((on + d) * 256)]
        assert np.abs(seg).max() > 50
    assert np.abs(signal.hilbert(x[:, mask], axis=1)).mean() < 10.0
    assert not sim.events_of("blink") or all(
        not (10 <= b.onset_s <= 80) for b in sim.events_of("blink")
    )


def test_sleep_stages() -> None:
    stages = ["W", "N1", "N2", "N3", "REM"]
    sim = generate_eeg(150.0, sleep_stages=stages, seed=1)
    assert sim.hypnogram == ["W", "N1", "N2", "N3", "R"]
    ep = [sim.data_uv[:, k * 7680 + 512 : (k + 1) * 7680 - 512] for k in range(5)]
    o1, fz = _idx(sim, "O1"), _idx(sim, "Fz")
    alpha = [_band_power(e[o1], 256, 8, 12) for e in ep]
    delta = [_band_power(e[fz], 256, 0.5, 2) for e in ep]
    assert alpha[0] > 3 * max(alpha[2], alpha[3])
    assert delta[3] > 3 * delta[0]
    assert np.ptp(signal.sosfiltfilt(signal.butter(2, 2, fs=256, output="sos"), ep[3][fz])) > 75
    assert not [b for b in sim.events_of("blink") if b.onset_s > 32]


def test_to_raw_and_edf_round_trip(tmp_path: Path) -> None:
    sim = generate_eeg(12.0, events=[InjectedEvent("spike", 5.0, 0.04)], seed=2)
    raw = sim.to_raw()
    np.testing.assert_allclose(raw.get_data() * 1e6, sim.data_uv)
    assert raw.get_montage() is not None
    assert raw.info["meas_date"] == sim.start_time
    assert "spike" in raw.annotations.description
    path = sim.write_edf(tmp_path / "x.edf", old_style_names=True, extra_channels=True)
    back = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert "EEG T3-Ref" in back.ch_names and "ECG" in back.ch_names and "EOG LOC" in back.ch_names
    assert "spike" in back.annotations.description
    i = back.ch_names.index("EEG T3-Ref")
    np.testing.assert_allclose(back.get_data()[i] * 1e6, sim.data_uv[_idx(sim, "T7")], atol=0.1)
    # ECG: one QRS (about 1 mV) every 60/72 s; EOG: each blink at 1.5 times its amplitude
    ecg = back.get_data(picks=["ECG"])[0] * 1e6
    qrs, _ = signal.find_peaks(ecg, height=500.0, distance=int(0.5 * sim.sfreq_hz))
    assert abs(len(qrs) - 12.0 * 72 / 60) <= 1
    np.testing.assert_allclose(np.diff(qrs) / sim.sfreq_hz, 60 / 72, atol=0.01)
    eog = back.get_data(picks=["EOG LOC"])[0] * 1e6
    blinks = sim.events_of("blink")
    assert blinks
    for ev in blinks:
        a, b = round(ev.onset_s * sim.sfreq_hz), round(ev.offset_s * sim.sfreq_hz)
        assert abs(eog[a:b].max() - 1.5 * ev.amplitude_uv) < 0.2 * ev.amplitude_uv
    assert np.median(np.abs(eog)) < 20.0
    plain = sim.write_edf(tmp_path / "y.edf")
    assert mne.io.read_raw_edf(plain, verbose="error").ch_names == sim.ch_names


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ch_names": ["Fp1", "T3"]}, SyntheticSpecError),
        ({"events": [InjectedEvent("spike", 5.0, 0.3)]}, SyntheticSpecError),
        ({"events": [InjectedEvent("seizure", 5.0, 30.0)]}, SyntheticSpecError),
        ({"events": [InjectedEvent("wobble", 1.0, 1.0)]}, SyntheticSpecError),  # type: ignore[arg-type]
        ({"bad_channels": {"Cz": "broken"}}, SyntheticSpecError),
        ({"sleep_stages": ["W", "W", "N2"]}, SyntheticSpecError),
        ({"sleep_stages": ["W", "Q"]}, SyntheticSpecError),
        ({"sfreq_hz": 50.0}, WrongSamplingRate),
    ],
)
def test_bad_requests_raise_typed_errors(kwargs: dict, error: type[EEGError]) -> None:
    with pytest.raises(error) as info:
        generate_eeg(20.0, **kwargs)
    assert isinstance(info.value, EEGError)
    assert len(str(info.value)) > 20
