"""qEEG features on synthetic backgrounds with known properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, welch

from processors.errors import NonFiniteSamples, RecordingTooShort, WrongSamplingRate
from processors.preprocessing import condition_windows, cut_windows
from processors.qeeg import (
    BANDS_HZ,
    HOMOLOGOUS_PAIRS,
    band_powers,
    qeeg_features,
)
from processors.synthetic import generate_eeg
from processors.types import WindowBatch

SFREQ_HZ = 256.0
LEFT = {pair[0] for pair in HOMOLOGOUS_PAIRS}


def windows(data_uv: np.ndarray, ch_names: list[str]) -> WindowBatch:
    """Cut and condition 4 s windows the way the pipeline does (band-pass, 256 Hz)."""
    native = cut_windows(data_uv, SFREQ_HZ, ch_names, window_s=4.0, stride_s=4.0)
    return condition_windows(native, n_samples_out=1024)


def slow_activity(n_ch: int, n: int, rms_uv: float, seed: int) -> np.ndarray:
    """Diffuse polymorphic 1-6 Hz activity, partly shared across the head."""
    rng = np.random.default_rng(seed + 1000)
    sos = butter(3, [1.0, 6.0], btype="band", fs=SFREQ_HZ, output="sos")
    src = rng.standard_normal((1, n)) + 0.7 * rng.standard_normal((n_ch, n))
    s = sosfiltfilt(sos, src, axis=-1)
    return s / s.std(axis=-1, keepdims=True) * rms_uv


def posterior_rhythm(ch_names: list[str], n: int, freq_hz: float, amp_uv: float) -> np.ndarray:
    """A sinusoidal posterior rhythm of known frequency, waxing and waning."""
    t = np.arange(n) / SFREQ_HZ
    gain = {"O1": 1.0, "O2": 1.0, "P7": 0.6, "P8": 0.6, "P3": 0.6, "P4": 0.6, "Pz": 0.7}
    env = 1.0 + 0.3 * np.sin(2 * np.pi * 0.07 * t)
    wave = amp_uv * env * np.sin(2 * np.pi * freq_hz * t)
    return np.stack([gain.get(c, 0.0) * wave for c in ch_names])


@pytest.fixture(scope="module")
def normal() -> tuple[np.ndarray, list[str]]:
    g = generate_eeg(60.0, seed=3)
    return g.data_uv, g.ch_names


def test_band_powers_shapes_and_relative_sum(normal: tuple[np.ndarray, list[str]]) -> None:
    data, ch = normal
    batch = windows(data, ch)
    bp = band_powers(batch)
    for name in BANDS_HZ:
        assert bp[f"{name}_abs_uv2"].shape == (batch.n_windows, len(ch))
        assert (bp[f"{name}_abs_uv2"] > 0).all()
    rel = sum(bp[f"{name}_rel"] for name in BANDS_HZ)
    np.testing.assert_allclose(rel, 1.0, rtol=1e-9)
    # Alpha dominates at O1 relative to Fz (posterior alpha in the generator).
    o1, fz = ch.index("O1"), ch.index("Fz")
    assert np.median(bp["alpha_rel"][:, o1]) > 1.5 * np.median(bp["alpha_rel"][:, fz])


def test_band_power_of_a_known_sinusoid() -> None:
    """A 6 Hz sine of amplitude A has power A^2/2, all in theta."""
    t = np.arange(1024) / SFREQ_HZ
    x = (20.0 * np.sin(2 * np.pi * 6.0 * t))[None, None, :].astype(np.float32)
    batch = WindowBatch(x, ["Cz"], SFREQ_HZ, np.array([0.0]), np.array([0]))
    bp = band_powers(batch)
    assert bp["theta_abs_uv2"][0, 0] == pytest.approx(200.0, rel=0.05)
    assert bp["theta_rel"][0, 0] > 0.98


def test_slowing_ratio_separates_slowed_background(normal: tuple[np.ndarray, list[str]]) -> None:
    data, ch = normal
    slowed = 0.8 * data + slow_activity(len(ch), data.shape[1], 12.0, seed=3)
    f_norm = qeeg_features(windows(data, ch))
    f_slow = qeeg_features(windows(slowed, ch))
    assert np.median(f_slow.slowing_ratio) > 2.5 * np.median(f_norm.slowing_ratio)
    # Every slowed window is slower than every normal one.
    assert f_slow.slowing_ratio.min() > f_norm.slowing_ratio.max()
    for region, ratio in f_slow.slowing_ratio_by_region.items():
        assert np.median(ratio) > np.median(f_norm.slowing_ratio_by_region[region]), region


def test_pdr_found_at_the_generated_alpha_peak(normal: tuple[np.ndarray, list[str]]) -> None:
    """The generator draws its alpha frequency in 9-11 Hz: per-window PDRs agree with the
    peak of a long, high-resolution spectrum of O1/O2."""
    data, ch = normal
    f = qeeg_features(windows(data, ch))
    post = data[[ch.index("O1"), ch.index("O2")]]
    freqs, psd = welch(post, fs=SFREQ_HZ, nperseg=int(20 * SFREQ_HZ))
    band = (freqs >= 8) & (freqs <= 12)
    truth_hz = freqs[band][psd.mean(axis=0)[band].argmax()]
    assert 9.0 <= truth_hz <= 11.0
    found = np.isfinite(f.pdr_hz)
    assert found.mean() >= 0.8
    assert np.abs(np.median(f.pdr_hz[found]) - truth_hz) < 0.3
    assert np.abs(f.pdr_hz[found] - truth_hz).max() < 1.0


@pytest.mark.parametrize("freq_hz", [7.0, 10.0])
def test_pdr_of_an_injected_rhythm(freq_hz: float) -> None:
    """A posterior rhythm of known frequency, over a background without alpha (N2 sleep-like
    background turns the generator's alpha off, leaving 1/f activity)."""
    g = generate_eeg(40.0, seed=5, blinks=False, sleep_stages=["N3", "N3"])
    data = 0.5 * g.data_uv + posterior_rhythm(g.ch_names, g.data_uv.shape[1], freq_hz, 25.0)
    f = qeeg_features(windows(data, g.ch_names))
    assert np.isfinite(f.pdr_hz).all()
    np.testing.assert_allclose(f.pdr_hz, freq_hz, atol=0.5)


def test_no_pdr_without_posterior_rhythm() -> None:
    rng = np.random.default_rng(0)
    ch = ["O1", "O2", "Pz", "Cz"]
    x = np.cumsum(rng.standard_normal((len(ch), 200 * 256)), axis=1)  # brown noise, no peak
    x = x - x.mean(axis=1, keepdims=True)
    f = qeeg_features(windows(x, ch))
    # A 4 s spectrum has random bumps; most windows must still report no rhythm.
    assert np.isnan(f.pdr_hz).mean() >= 0.75
    f_none = qeeg_features(windows(x[3:], ["Cz"]))
    assert np.isnan(f_none.pdr_hz).all()  # no posterior channel at all


def test_asymmetry_detects_one_sided_attenuation(normal: tuple[np.ndarray, list[str]]) -> None:
    data, ch = normal
    attenuated = data.copy()
    left = [i for i, c in enumerate(ch) if c in LEFT]
    attenuated[left] *= 0.4  # left hemisphere at 40 % amplitude (16 % power)
    f_sym = qeeg_features(windows(data, ch))
    f_asym = qeeg_features(windows(attenuated, ch))
    pairs = [f"{left_name}-{right_name}" for left_name, right_name in HOMOLOGOUS_PAIRS]
    assert set(f_asym.asymmetry_by_pair) == set(pairs)
    median_pair = np.median(np.stack(list(f_asym.asymmetry_by_pair.values())), axis=0)
    assert (median_pair > 0.55).all()
    assert np.median(np.stack(list(f_sym.asymmetry_by_pair.values()))) < 0.3
    assert np.median(f_asym.brain_symmetry_index) > 2 * np.median(f_sym.brain_symmetry_index)
    # Attenuating only C3 raises C3-C4 and leaves O1-O2 alone.
    focal = data.copy()
    focal[ch.index("C3")] *= 0.3
    f_focal = qeeg_features(windows(focal, ch))
    assert np.median(f_focal.asymmetry_by_pair["C3-C4"]) > 0.7
    assert np.median(f_focal.asymmetry_by_pair["O1-O2"]) < 0.3


def test_suppression_fraction(normal: tuple[np.ndarray, list[str]]) -> None:
    data, ch = normal
    f_norm = qeeg_features(windows(data, ch))
    f_supp = qeeg_features(windows(0.15 * data, ch))  # about 2 uV RMS: suppressed
    assert f_norm.suppression_fraction.max() < 0.05
    assert f_supp.suppression_fraction.min() > 0.95
    # Half of each window suppressed: the fraction follows.
    half = data.copy()
    n = half.shape[1]
    starts = np.arange(0, n - 1024 + 1, 1024)
    for s in starts:
        half[:, s : s + 512] *= 0.1
    f_half = qeeg_features(windows(half, ch))
    assert np.all(np.abs(f_half.suppression_fraction[1:-1] - 0.5) < 0.15)


def test_sharp_transients_raise_the_proxy_rate() -> None:
    spikes = [("spike", 4.0 * k + 1.5) for k in range(10)]
    from processors.synthetic import InjectedEvent

    g_clean = generate_eeg(40.0, seed=7, blinks=False)
    g_spiky = generate_eeg(
        40.0,
        seed=7,
        blinks=False,
        events=[InjectedEvent(kind, onset, 0.05, channels=("F3", "C3")) for kind, onset in spikes],
    )
    clean = qeeg_features(windows(g_clean.data_uv, g_clean.ch_names)).sharp_transients_per_min
    spiky = qeeg_features(windows(g_spiky.data_uv, g_spiky.ch_names)).sharp_transients_per_min
    assert spiky.mean() > clean.mean() + 0.5


def test_features_to_dict_is_json_ready(normal: tuple[np.ndarray, list[str]]) -> None:
    import json

    data, ch = normal
    f = qeeg_features(windows(data[:, : 3 * 1024], ch))
    d = f.to_dict()
    json.dumps(d, allow_nan=False)
    assert len(d["slowing_ratio"]) == f.n_windows == 3


def test_bad_batches_get_typed_errors() -> None:
    x = np.zeros((1, 2, 1024), dtype=np.float32)
    ok = dict(ch_names=["C3", "C4"], start_s=np.array([0.0]), index=np.array([0]))
    with pytest.raises(WrongSamplingRate, match="resample"):
        qeeg_features(WindowBatch(x, sfreq_hz=50.0, **ok))
    with pytest.raises(RecordingTooShort, match="at least 1 s"):
        qeeg_features(WindowBatch(x[..., :100], sfreq_hz=256.0, **ok))
    bad = x.copy()
    bad[0, 1, 10] = np.nan
    with pytest.raises(NonFiniteSamples, match="NaN"):
        band_powers(WindowBatch(bad, sfreq_hz=256.0, **ok))
    empty = WindowBatch(x[:0], ["C3", "C4"], 256.0, np.array([]), np.array([]))
    with pytest.raises(RecordingTooShort, match="empty"):
        qeeg_features(empty)


def test_real_recording_alpha(real_data_dir: Path) -> None:
    """The real OpenBCI recording (awake at first, eyes closed) has a clear ~10 Hz PDR."""
    from processors.io import read_recording
    from processors.preprocessing import window_recording

    rec = read_recording(real_data_dir / "openbci_sleep_125hz.bdf")
    f = qeeg_features(window_recording(rec))
    found = np.isfinite(f.pdr_hz)
    assert found.mean() >= 0.8
    assert 9.0 <= np.median(f.pdr_hz[found]) <= 11.0
    assert set(f.asymmetry_by_pair) == {"F3-F4", "C3-C4", "P3-P4", "O1-O2"}
