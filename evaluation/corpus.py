"""A harder evaluation corpus: its own event waveforms on the project's synthetic background.

Every record is :func:`processors.synthetic.generate_eeg` background (1/f activity, alpha,
blinks, muscle bursts, line noise; sleep stages for the asleep records) with events drawn
here, not by the generator, so that the detectors meet shapes they were not tuned on:

- ``spikes``: twelve discharges at irregular times, each a spike (20-70 ms), a sharp wave
  (70-200 ms), a spike-and-slow-wave or a polyspike (2-4 spikes then a slow wave),
  60-250 uV, on a field of 2 to 6 electrodes around a random electrode;
- ``lpd`` and ``gpd``: periodic discharges at 0.5-2.5 Hz for 40-90 s, lateralized to one
  hemisphere or generalized;
- ``seizure_rhythmic``: evolving rhythmic theta/delta (the generator's seizure, 3-8 Hz);
  ``seizure_spike_wave``: generalized 3 Hz spike-and-wave, 10-30 s; ``seizure_fast``:
  low-amplitude fast onset (15-25 Hz, 15-30 uV) evolving to a large 5-8 Hz rhythm, 20-40 s;
- ``burst_suppression``: a suppressed background (under 5 uV) with bursts, at a suppression
  ratio of 0.6, 0.75 or 0.9 (more than half, ACNS 2021), over most of the record;
- ``normal_awake`` and ``normal_asleep``: no event, with blinks, muscle, electrode pops and
  line noise (asleep: wake, N1, N2, N3, REM epochs; no muscle).

Each record carries its truth: (type, onset_s, offset_s, subtype) per event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from evaluation import EVALUATION_SEED_BASE
from processors.geometry import positions_m
from processors.synthetic import InjectedEvent, generate_eeg

SFREQ_HZ = 256.0
SPIKE_MORPHOLOGIES: tuple[str, ...] = ("spike", "sharp_wave", "spike_and_slow_wave", "polyspike")
SLEEP_CYCLE: tuple[str, ...] = ("W", "N1", "N2", "N2", "N3", "N3", "N2", "R", "N2", "N1")


@dataclass
class Truth:
    """One injected event."""

    type: str  # epileptiform, PLED, GPED, seizure, burst_suppression
    onset_s: float
    offset_s: float
    subtype: str | None = None


@dataclass
class CorpusRecord:
    """A record of the corpus: microvolts, names, truth and its category."""

    category: str
    seed: int
    data_uv: np.ndarray
    ch_names: list[str]
    truth: list[Truth] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.data_uv.shape[1] / SFREQ_HZ


# --- waveforms ------------------------------------------------------------------------------


def _sharp(t: np.ndarray, width_s: float) -> np.ndarray:
    """A surface-negative sharp transient of base width ``width_s`` starting at t=0."""
    half = width_s / 2.0
    return -(np.clip(1.0 - np.abs(t - half) / half, 0.0, None) ** 1.5)


def _slow_wave(t: np.ndarray, start_s: float, length_s: float) -> np.ndarray:
    ts = t - start_s
    return np.where((ts >= 0) & (ts <= length_s), -np.sin(np.pi * ts / length_s), 0.0)


def discharge(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One epileptiform discharge: the waveform (peak 1) and the length of its sharp part."""
    t = np.arange(int(0.7 * SFREQ_HZ)) / SFREQ_HZ
    if kind == "spike":
        w = float(rng.uniform(0.025, 0.065))
        wave = _sharp(t, w) + 0.25 * _slow_wave(t, w + 0.02, 0.2)
    elif kind == "sharp_wave":
        w = float(rng.uniform(0.08, 0.18))
        wave = _sharp(t, w) + 0.3 * _slow_wave(t, w + 0.02, 0.25)
    elif kind == "spike_and_slow_wave":
        w = float(rng.uniform(0.03, 0.065))
        wave = _sharp(t, w) + 0.7 * _slow_wave(t, w + 0.03, float(rng.uniform(0.2, 0.3)))
    else:  # polyspike: 2-4 spikes 60-90 ms apart, then a slow wave
        n = int(rng.integers(2, 5))
        w = float(rng.uniform(0.025, 0.04))
        gap = float(rng.uniform(0.06, 0.09))
        wave = sum((0.85**k) * _sharp(t - k * gap, w) * (t >= k * gap) for k in range(n))
        wave = wave + 0.5 * _slow_wave(t, n * gap + 0.02, 0.25)
    return wave / np.max(np.abs(wave)), w


def _field(pos: np.ndarray, rng: np.random.Generator, n_electrodes: int) -> np.ndarray:
    """Gains of a field whose ``n_electrodes`` nearest electrodes are at half or more."""
    focus = int(rng.integers(pos.shape[0]))
    d = np.linalg.norm(pos - pos[focus], axis=1)
    radius = np.sort(d)[n_electrodes - 1] + 1e-3
    sigma = radius / np.sqrt(2 * np.log(2))
    return np.exp(-0.5 * (d / sigma) ** 2)


def _add(data: np.ndarray, gains: np.ndarray, start_s: float, wave: np.ndarray) -> None:
    a = round(start_s * SFREQ_HZ)
    b = min(a + wave.size, data.shape[1])
    if b > a:
        data[:, a:b] += gains[:, None] * wave[None, : b - a]


def _electrode_pops(data: np.ndarray, rng: np.random.Generator, n: int) -> None:
    """Steps on one electrode that decay back (an electrode pop), 100-300 uV."""
    for _ in range(n):
        ch = int(rng.integers(data.shape[0]))
        a = int(rng.integers(int(5 * SFREQ_HZ), data.shape[1] - int(5 * SFREQ_HZ)))
        t = np.arange(int(2 * SFREQ_HZ)) / SFREQ_HZ
        step = float(rng.uniform(100, 300)) * rng.choice([-1, 1])
        data[ch, a : a + t.size] += step * np.exp(-t / float(rng.uniform(0.2, 0.5)))


def _background(seed: int, duration_s: float, **kwargs: object):
    return generate_eeg(duration_s, muscle=kwargs.pop("muscle", True), seed=seed, **kwargs)


# --- categories -----------------------------------------------------------------------------


def spikes(seed: int, duration_s: float) -> CorpusRecord:
    rng = np.random.default_rng(seed)
    eeg = _background(seed, duration_s)
    data = eeg.data_uv.copy()
    pos = positions_m(eeg.ch_names)
    truth: list[Truth] = []
    t = float(rng.uniform(5, 10))
    while t < duration_s - 5 and len(truth) < 12:
        kind = SPIKE_MORPHOLOGIES[len(truth) % len(SPIKE_MORPHOLOGIES)]
        wave, width_s = discharge(kind, rng)
        gains = _field(pos, rng, int(rng.integers(2, 7)))
        _add(data, gains * float(rng.uniform(60, 250)), t, wave)
        truth.append(Truth("epileptiform", t, t + width_s, kind))
        t += float(rng.uniform(0.4, 1.6)) * (duration_s - 15) / 12
    return CorpusRecord("spikes", seed, data, eeg.ch_names, truth)


def _periodic(seed: int, duration_s: float, lateralized: bool) -> CorpusRecord:
    rng = np.random.default_rng(seed)
    eeg = _background(seed, duration_s)
    data = eeg.data_uv.copy()
    pos = positions_m(eeg.ch_names)
    rate_hz = float(rng.uniform(0.5, 2.5))
    length_s = float(rng.uniform(40, min(90, duration_s - 30)))
    onset = float(rng.uniform(10, duration_s - length_s - 10))
    if lateralized:
        side = rng.choice([-1, 1])
        focus = pos[int(rng.choice(np.flatnonzero(np.sign(pos[:, 0]) == side)))]
        gains = np.exp(-0.5 * (np.linalg.norm(pos - focus, axis=1) / 0.08) ** 2)
        gains[np.sign(pos[:, 0]) == -side] *= 0.15
    else:
        gains = 0.7 + 0.3 * np.clip(pos[:, 1] / 0.08, -1, 1)
    amp = float(rng.uniform(80, 200))
    kind = str(rng.choice(["sharp_wave", "spike_and_slow_wave", "polyspike"]))
    tk = onset
    while tk < onset + length_s:
        wave, _ = discharge(kind, rng)
        _add(data, gains * amp * float(rng.uniform(0.85, 1.15)), tk, wave)
        tk += (1.0 / rate_hz) * (1.0 + 0.05 * float(rng.standard_normal()))
    name = "lpd" if lateralized else "gpd"
    kind_out = "PLED" if lateralized else "GPED"
    truth = [Truth(kind_out, onset, onset + length_s, f"{rate_hz:.2f} Hz")]
    return CorpusRecord(name, seed, data, eeg.ch_names, truth)


def lpd(seed: int, duration_s: float) -> CorpusRecord:
    return _periodic(seed, duration_s, lateralized=True)


def gpd(seed: int, duration_s: float) -> CorpusRecord:
    return _periodic(seed, duration_s, lateralized=False)


def seizure_rhythmic(seed: int, duration_s: float) -> CorpusRecord:
    rng = np.random.default_rng(seed)
    length_s = float(rng.uniform(20, 60))
    onset = float(rng.uniform(20, duration_s - length_s - 20))
    ev = InjectedEvent(
        "seizure", onset, length_s, rate_hz=float(rng.uniform(3.0, 8.0)),
        amplitude_uv=float(rng.uniform(80, 200)),
    )  # fmt: skip
    eeg = generate_eeg(duration_s, events=[ev], muscle=True, seed=seed)
    truth = [Truth("seizure", onset, onset + length_s, "rhythmic")]
    return CorpusRecord("seizure_rhythmic", seed, eeg.data_uv, eeg.ch_names, truth)


@dataclass
class _Stretch:
    """A record's background and where its event lies."""

    rng: np.random.Generator
    ch_names: list[str]
    data: np.ndarray
    pos: np.ndarray
    onset_s: float
    length_s: float


def _stretch(seed: int, duration_s: float, length_range_s: tuple[float, float]) -> _Stretch:
    rng = np.random.default_rng(seed)
    eeg = _background(seed, duration_s)
    length_s = float(rng.uniform(*length_range_s))
    onset = float(rng.uniform(20, duration_s - length_s - 20))
    return _Stretch(
        rng, eeg.ch_names, eeg.data_uv.copy(), positions_m(eeg.ch_names), onset, length_s
    )


def seizure_spike_wave(seed: int, duration_s: float) -> CorpusRecord:
    st = _stretch(seed, duration_s, (10, 30))
    rng, data, pos, onset, length_s = st.rng, st.data, st.pos, st.onset_s, st.length_s
    rate_hz = float(rng.uniform(2.7, 3.5))
    gains = 0.75 + 0.25 * np.clip(pos[:, 1] / 0.08, -1, 1)  # frontally predominant
    amp = float(rng.uniform(150, 300))
    t = np.arange(int(SFREQ_HZ / rate_hz)) / SFREQ_HZ
    cycle = 0.5 * _sharp(t, 0.04) + _slow_wave(t, 0.06, 1.0 / rate_hz - 0.08)
    tk = onset
    while tk < onset + length_s:
        # the discharge slows a little towards its end, as absences do
        _add(data, gains * amp, tk, cycle)
        tk += 1.0 / (rate_hz * (1.0 - 0.15 * (tk - onset) / length_s))
    truth = [Truth("seizure", onset, onset + length_s, "spike_wave_3hz")]
    return CorpusRecord("seizure_spike_wave", seed, data, st.ch_names, truth)


def seizure_fast(seed: int, duration_s: float) -> CorpusRecord:
    st = _stretch(seed, duration_s, (20, 40))
    rng, data, pos, onset, length_s = st.rng, st.data, st.pos, st.onset_s, st.length_s
    n = int(length_s * SFREQ_HZ)
    frac = np.arange(n) / n
    f0, f1 = float(rng.uniform(15, 25)), float(rng.uniform(5, 8))
    freq = f0 + (f1 - f0) * np.clip(frac / 0.7, 0, 1)
    amp = float(rng.uniform(15, 30)) + float(rng.uniform(80, 150)) * np.clip(frac / 0.8, 0, 1)
    phase = 2 * np.pi * np.cumsum(freq) / SFREQ_HZ
    taper = np.clip(np.minimum(frac, 1 - frac) * length_s / 0.5, 0, 1)
    wave = -np.sin(phase) * amp * taper
    focus = pos[int(rng.integers(pos.shape[0]))]
    d = np.linalg.norm(pos - focus, axis=1)
    sigma = 0.05 + 0.06 * np.clip(frac / 0.7, 0, 1)  # a focal onset that spreads
    a = round(onset * SFREQ_HZ)
    data[:, a : a + n] += np.exp(-0.5 * (d[:, None] / sigma[None, :]) ** 2) * wave[None, :]
    truth = [Truth("seizure", onset, onset + length_s, "low_amplitude_fast")]
    return CorpusRecord("seizure_fast", seed, data, st.ch_names, truth)


def burst_suppression(seed: int, duration_s: float) -> CorpusRecord:
    rng = np.random.default_rng(seed)
    ratio = float(rng.choice([0.6, 0.75, 0.9]))
    eeg = _background(seed, duration_s, blinks=False, muscle=False)
    data = eeg.data_uv.copy()
    onset, offset = 10.0, duration_s - 10.0
    gain = np.ones(data.shape[1])
    a, b = round(onset * SFREQ_HZ), round(offset * SFREQ_HZ)
    gain[a:b] = float(rng.uniform(0.04, 0.1))
    tk = onset + float(rng.uniform(1, 4))
    sos = signal.butter(2, [1.0, 12.0], btype="bandpass", fs=SFREQ_HZ, output="sos")
    bursts = np.zeros_like(data)
    while True:
        dur = float(rng.uniform(0.5, 4.0))
        if tk + dur > offset - 1:
            break
        s0, s1 = round(tk * SFREQ_HZ), round((tk + dur) * SFREQ_HZ)
        gain[s0:s1] = 1.0
        noise = signal.sosfiltfilt(sos, rng.standard_normal(s1 - s0))
        ramp = np.clip(np.minimum(np.arange(s1 - s0), np.arange(s1 - s0)[::-1]) / 20, 0, 1)
        amp = float(rng.uniform(50, 150)) / (np.std(noise) * 3 + 1e-9)
        bursts[:, s0:s1] += (0.7 + 0.3 * rng.uniform(size=(data.shape[0], 1))) * noise * ramp * amp
        tk += dur + dur * ratio / (1 - ratio) * float(rng.uniform(0.7, 1.3))
    data = data * gain[None, :] + bursts
    truth = [Truth("burst_suppression", onset, offset, f"ratio {ratio:.1f}")]
    return CorpusRecord("burst_suppression", seed, data, eeg.ch_names, truth)


def normal_awake(seed: int, duration_s: float) -> CorpusRecord:
    rng = np.random.default_rng(seed)
    eeg = _background(seed, duration_s)
    data = eeg.data_uv.copy()
    _electrode_pops(data, rng, int(rng.integers(1, 4)))
    return CorpusRecord("normal_awake", seed, data, eeg.ch_names)


def normal_asleep(seed: int, duration_s: float) -> CorpusRecord:
    rng = np.random.default_rng(seed)
    n_epochs = int(np.ceil(duration_s / 30.0))
    start = int(rng.integers(len(SLEEP_CYCLE)))
    stages = [SLEEP_CYCLE[(start + k) % len(SLEEP_CYCLE)] for k in range(n_epochs)]
    eeg = generate_eeg(duration_s, sleep_stages=stages, muscle=False, seed=seed)
    data = eeg.data_uv.copy()
    _electrode_pops(data, rng, int(rng.integers(0, 3)))
    return CorpusRecord("normal_asleep", seed, data, eeg.ch_names)


CATEGORIES: dict[str, Callable[[int, float], CorpusRecord]] = {
    "spikes": spikes,
    "lpd": lpd,
    "gpd": gpd,
    "seizure_rhythmic": seizure_rhythmic,
    "seizure_spike_wave": seizure_spike_wave,
    "seizure_fast": seizure_fast,
    "burst_suppression": burst_suppression,
    "normal_awake": normal_awake,
    "normal_asleep": normal_asleep,
}
#: the event type each abnormal category must be found as
TARGET_TYPE: dict[str, str | None] = {
    "spikes": "epileptiform",
    "lpd": "PLED",
    "gpd": "GPED",
    "seizure_rhythmic": "seizure",
    "seizure_spike_wave": "seizure",
    "seizure_fast": "seizure",
    "burst_suppression": "burst_suppression",
    "normal_awake": None,
    "normal_asleep": None,
}


def corpus_seed(category: str, k: int) -> int:
    """The seed of the k-th record of a category (never a tuning seed)."""
    return EVALUATION_SEED_BASE + 1000 * list(CATEGORIES).index(category) + k


def make_record(category: str, k: int, duration_s: float) -> CorpusRecord:
    """The k-th record of a category."""
    return CATEGORIES[category](corpus_seed(category, k), duration_s)
