"""Synthetic multichannel scalp EEG with injectable events and their ground truth.

The background follows the well-known statistics of resting scalp EEG:

- an aperiodic ``1/f^beta`` power spectrum (He 2014; Donoghue et al. 2020), spatially
  correlated by mixing independent sources through a smooth, distance-based matrix built from
  the ``standard_1020`` electrode positions (volume conduction, Nunez & Srinivasan 2006);
- a posterior dominant alpha rhythm (8-12 Hz) that waxes and wanes, strongest at O1/O2/P7/P8/Pz;
- frontal eye blinks (Fp1/Fp2, 100-200 uV, about 300 ms), optional temporal muscle bursts
  (20-70 Hz), mains line noise, and flat or noisy channels on request;
- sleep-like changes per 30 s epoch (AASM: W alpha, N1 theta, N2 spindles and K-complexes,
  N3 delta over 75 uV, REM low-amplitude mixed frequency).

Events follow the ACNS 2021 standardized critical care EEG terminology (Hirsch et al. 2021):
spikes (20-70 ms) and sharp waves (70-200 ms) with an after-going slow wave and a field over
neighbouring electrodes, an evolving seizure (rhythmic 3-8 Hz activity that grows and slows),
lateralized and generalized periodic discharges, and burst suppression (suppressed background
under 10 uV with bursts of 0.5-30 s).

Everything is deterministic given ``seed``. Arrays are in microvolts; :meth:`SyntheticEEG.to_raw`
converts to volts for MNE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

import mne
import numpy as np
from scipy import ndimage, signal

from processors.errors import SyntheticSpecError, WrongSamplingRate
from processors.geometry import MIN_SFREQ_HZ, positions_m
from processors.montage import OLD_TO_NEW, STANDARD_1020_19, standard_1020_montage
from processors.sleep import EPOCH_S as SLEEP_EPOCH_S
from processors.sleep import STAGES as SLEEP_STAGES

__all__ = [
    "STANDARD_1020_19",
    "InjectedEvent",
    "SyntheticEEG",
    "SyntheticSpecError",
    "generate_eeg",
]

EventKind = Literal[
    "spike", "sharp_wave", "seizure", "lpd", "gpd", "burst_suppression", "blink", "muscle"
]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
_STAGE_ALIASES = {"WAKE": "W", "REM": "R", "N4": "N3", "S1": "N1", "S2": "N2", "S3": "N3"}

#: default peak amplitudes (uV) per kind, typical of clinical recordings
_DEFAULT_AMPLITUDE_UV = {
    "spike": 150.0,
    "sharp_wave": 130.0,
    "seizure": 150.0,
    "lpd": 150.0,
    "gpd": 120.0,
    "burst_suppression": 90.0,
    "blink": 150.0,
    "muscle": 25.0,
}
#: default repetition rates (Hz): periodic discharges about 1 Hz, seizure onset frequency
_DEFAULT_RATE_HZ = {"seizure": 7.0, "lpd": 1.0, "gpd": 1.5}

# Spatial spread (m) of one source over the standard head (neighbours sit about 6 cm apart).
_MIX_SIGMA_M = 0.04
_FIELD_SIGMA_M = 0.055


@dataclass(frozen=True)
class InjectedEvent:
    """One event to inject, and after generation its ground truth.

    Parameters
    ----------
    kind : str
        ``spike``, ``sharp_wave``, ``seizure``, ``lpd``, ``gpd``, ``burst_suppression``,
        ``blink`` or ``muscle``.
    onset_s, duration_s : float
        Start and length in seconds from the first sample. For a spike or sharp wave the
        duration is that of the sharp transient itself (20-70 ms, 70-200 ms); its after-going
        slow wave follows.
    channels : tuple of str
        Channels carrying the event; empty lets the generator choose (a focal field, one
        hemisphere, or all channels for generalized kinds).
    amplitude_uv : float or None
        Peak amplitude at the strongest channel; ``None`` for a realistic default.
    rate_hz : float or None
        Repetition rate of ``lpd``/``gpd`` discharges, or the starting frequency of a seizure.
    truth_onsets_s : tuple of float
        Filled in by the generator: onset of each individual discharge (spike, each periodic
        discharge, each burst of a burst-suppression stretch).
    truth_durations_s : tuple of float
        Filled in by the generator: duration of each of those discharges or bursts.
    """

    kind: EventKind
    onset_s: float
    duration_s: float
    channels: tuple[str, ...] = ()
    amplitude_uv: float | None = None
    rate_hz: float | None = None
    truth_onsets_s: tuple[float, ...] = ()
    truth_durations_s: tuple[float, ...] = ()

    @property
    def offset_s(self) -> float:
        """End of the event in seconds."""
        return self.onset_s + self.duration_s


@dataclass
class SyntheticEEG:
    """A generated recording and its ground truth (``data_uv`` in microvolts)."""

    data_uv: np.ndarray
    sfreq_hz: float
    ch_names: list[str]
    events: list[InjectedEvent]
    bad_channels: dict[str, str]
    hypnogram: list[str] | None
    start_time: datetime
    seed: int = 0
    _eog_uv: np.ndarray | None = field(default=None, repr=False)

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.data_uv.shape[1] / self.sfreq_hz

    def events_of(self, *kinds: str) -> list[InjectedEvent]:
        """The ground-truth events of the given kinds, in time order."""
        return [ev for ev in self.events if ev.kind in kinds]

    def to_raw(self) -> mne.io.RawArray:
        """An MNE RawArray in volts with the standard_1020 montage and the events as
        annotations (description = kind)."""
        info = mne.create_info(list(self.ch_names), self.sfreq_hz, ch_types="eeg")
        raw = mne.io.RawArray(self.data_uv * 1e-6, info, verbose="error")
        raw.set_montage(standard_1020_montage(), on_missing="ignore", verbose="error")
        raw.set_meas_date(self.start_time)
        if self.events:
            raw.set_annotations(
                mne.Annotations(
                    onset=[ev.onset_s for ev in self.events],
                    duration=[ev.duration_s for ev in self.events],
                    description=[ev.kind for ev in self.events],
                    orig_time=self.start_time,
                )
            )
        return raw

    def write_edf(
        self,
        path: str | Path,
        *,
        physical_range_uv: tuple[float, float] = (-3200.0, 3200.0),
        old_style_names: bool = False,
        extra_channels: bool = False,
        patient_name: str = "X",
        patient_code: str = "X",
        annotations: bool = True,
    ) -> Path:
        """Write the recording as EDF+ (16-bit, microvolts) with edfio.

        Parameters
        ----------
        path : str or Path
            Destination file.
        physical_range_uv : (float, float)
            Physical minimum and maximum of every EEG signal; samples are clipped to it.
        old_style_names : bool
            Label channels the way many clinical systems do, ``EEG T3-Ref`` (old 10-20 names
            T3/T4/T5/T6, ``EEG`` prefix, ``-Ref`` suffix), so readers' name handling is tested.
        extra_channels : bool
            Add non-EEG channels (``ECG``, ``EOG``) that readers must set aside.
        patient_name, patient_code : str
            EDF+ patient identification subfields (no spaces).
        annotations : bool
            Write the ground-truth events as EDF+ annotations.

        Returns
        -------
        Path
            The written file.
        """
        import edfio

        lo, hi = physical_range_uv
        if not lo < hi:
            raise SyntheticSpecError(
                f"physical_range_uv must be (min, max) with min < max, got {physical_range_uv}"
            )
        path = Path(path)
        signals = []
        for name, row in zip(self.ch_names, self.data_uv, strict=True):
            label = _old_style_label(name) if old_style_names else name
            signals.append(
                edfio.EdfSignal(
                    np.clip(row, lo, hi),
                    self.sfreq_hz,
                    label=label,
                    transducer_type="AgAgCl electrode",
                    physical_dimension="uV",
                    physical_range=(lo, hi),
                    prefiltering="HP:0.1Hz LP:100Hz",
                )
            )
        if extra_channels:
            signals.extend(self._extra_signals(lo, hi))
        edf_annotations = None
        if annotations:
            edf_annotations = [
                edfio.EdfAnnotation(round(ev.onset_s, 4), round(ev.duration_s, 4), ev.kind)
                for ev in self.events
            ]
        start = self.start_time
        edf = edfio.Edf(
            signals,
            patient=edfio.Patient(
                code=patient_code.replace(" ", "_"), name=patient_name.replace(" ", "_")
            ),
            recording=edfio.Recording(startdate=start.date()),
            starttime=start.time().replace(microsecond=0, tzinfo=None),
            annotations=edf_annotations,
        )
        edf.write(path)
        return path

    def _extra_signals(self, lo: float, hi: float) -> list:
        """ECG (a 72 bpm QRS train, millivolt scale) and vertical EOG (the blinks)."""
        import edfio

        rng = np.random.default_rng(self.seed + 7)
        n = self.data_uv.shape[1]
        t = np.arange(n) / self.sfreq_hz
        ecg = np.zeros(n)
        beat_s = 60.0 / 72.0
        # Each QRS is added within 0.5 s of its peak only: beyond 0.46 s (38 widths) the
        # Gaussian underflows to exactly 0, so the sum is the same as over the whole record,
        # and the cost grows with the length instead of its square.
        reach = round(0.5 * self.sfreq_hz)
        for r in np.arange(rng.uniform(0, beat_s), t[-1], beat_s):
            mid = round(r * self.sfreq_hz)
            i0, i1 = max(mid - reach, 0), min(mid + reach + 1, n)
            ecg[i0:i1] += 1000.0 * np.exp(-0.5 * ((t[i0:i1] - r) / 0.012) ** 2)
        ecg += rng.normal(0, 10.0, n)
        eog = self._eog_uv if self._eog_uv is not None else np.zeros(n)
        eog = eog + rng.normal(0, 5.0, n)
        return [
            edfio.EdfSignal(
                np.clip(ecg, -5000, 5000), self.sfreq_hz, label="ECG", physical_dimension="uV",
                physical_range=(-5000.0, 5000.0),
            ),
            edfio.EdfSignal(
                np.clip(eog, lo, hi), self.sfreq_hz, label="EOG LOC", physical_dimension="uV",
                physical_range=(lo, hi),
            ),
        ]  # fmt: skip


_NEW_TO_OLD = {new: old for old, new in OLD_TO_NEW.items()}


def _old_style_label(name: str) -> str:
    """``T7`` -> ``EEG T3-Ref``, ``Fp1`` -> ``EEG Fp1-Ref``."""
    return f"EEG {_NEW_TO_OLD.get(name, name)}-Ref"


# --------------------------------------------------------------------------------------
# geometry


def _positions_m(ch_names: Sequence[str]) -> np.ndarray:
    """Electrode positions (m, head coordinates) from the standard_1020 montage."""
    pos = positions_m(ch_names)
    missing = [ch for ch, ok in zip(ch_names, np.isfinite(pos).all(axis=1), strict=True) if not ok]
    missing += [ch for ch in ch_names if ch.upper() in OLD_TO_NEW and ch not in missing]
    if missing:
        raise SyntheticSpecError(
            f"channels {missing} are not standard_1020 positions; use names such as "
            f"{', '.join(STANDARD_1020_19[:5])} (modern 10-20 names, T7 not T3)"
        )
    return pos


def _field_gains(pos: np.ndarray, focus: int, sigma_m: float = _FIELD_SIGMA_M) -> np.ndarray:
    """Gaussian fall-off of a cortical generator's field around electrode ``focus``."""
    d = np.linalg.norm(pos - pos[focus], axis=1)
    g = np.exp(-0.5 * (d / sigma_m) ** 2)
    g[g < 0.15] = 0.0
    return g


def _gains_for_channels(ch_names: Sequence[str], chosen: Sequence[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(ch_names)}
    unknown = [c for c in chosen if c not in index]
    if unknown:
        raise SyntheticSpecError(
            f"event channels {unknown} are not among the recording's channels {list(ch_names)}"
        )
    g = np.zeros(len(ch_names))
    g[[index[c] for c in chosen]] = 1.0
    return g


def _names_above(ch_names: Sequence[str], gains: np.ndarray, level: float) -> tuple[str, ...]:
    top = gains.max() if gains.size else 0.0
    return tuple(c for c, g in zip(ch_names, gains, strict=True) if top > 0 and g >= level * top)


# --------------------------------------------------------------------------------------
# background


def _colored_noise(
    rng: np.random.Generator, n_rows: int, n: int, sfreq_hz: float, shape
) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``shape(f)``, unit variance per row."""
    freqs = np.fft.rfftfreq(n, 1.0 / sfreq_hz)
    amp = shape(freqs)
    spec = (
        rng.standard_normal((n_rows, freqs.size)) + 1j * rng.standard_normal((n_rows, freqs.size))
    ) * amp
    x = np.fft.irfft(spec, n=n, axis=1)
    x /= x.std(axis=1, keepdims=True) + 1e-12
    return x


def _pink_shape(beta: float, knee_hz: float = 1.0):
    """Amplitude spectrum of ``1/f^beta`` power, flat below ``knee_hz`` and no DC."""

    def shape(f: np.ndarray) -> np.ndarray:
        a = np.maximum(f, knee_hz) ** (-beta / 2.0)
        a[0] = 0.0
        return a

    return shape


def _band_shape(center_hz: float, width_hz: float):
    """Gaussian amplitude bump: narrow-band noise that waxes and wanes by itself."""

    def shape(f: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * ((f - center_hz) / width_hz) ** 2)

    return shape


def _slow_envelope(rng: np.random.Generator, n: int, sfreq_hz: float, depth: float) -> np.ndarray:
    """A positive modulation around 1 varying over several seconds."""
    m = _colored_noise(rng, 1, n, sfreq_hz, _band_shape(0.0, 0.08))[0]
    return np.clip(1.0 + depth * m, 0.05, 1.8)


def _background(rng: np.random.Generator, pos: np.ndarray, n: int, sfreq_hz: float) -> np.ndarray:
    """Spatially correlated aperiodic activity, 8-14 uV RMS per channel."""
    mixed = _mixed_sources(rng, pos, n, sfreq_hz, _pink_shape(beta=1.6), _MIX_SIGMA_M)
    rms_uv = rng.uniform(8.0, 14.0, pos.shape[0])
    return mixed * rms_uv[:, None]


def _mixed_sources(
    rng: np.random.Generator, pos: np.ndarray, n: int, sfreq_hz: float, shape, sigma_m: float
) -> np.ndarray:
    """Independent sources of spectrum ``shape`` under every electrode, mixed by a
    Gaussian distance kernel of width ``sigma_m``; unit variance per channel."""
    src = _colored_noise(rng, pos.shape[0], n, sfreq_hz, shape)
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    mix = np.exp(-0.5 * (d / sigma_m) ** 2)
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    return mix @ src


def _posterior_weights(pos: np.ndarray) -> np.ndarray:
    """Alpha topography: 1 at O1/O2, about 0.6 at P7/P8/Pz, small frontally."""
    y = pos[:, 1]
    return np.clip((-y - 0.01) / 0.10, 0.05, 1.0) ** 1.3


def _alpha(rng: np.random.Generator, pos: np.ndarray, n: int, sfreq_hz: float) -> np.ndarray:
    """Posterior dominant rhythm: two nearly synchronous hemispheric generators."""
    f0 = rng.uniform(9.0, 11.0)
    common = _colored_noise(rng, 1, n, sfreq_hz, _band_shape(f0, 0.35))[0]
    sides = _colored_noise(rng, 2, n, sfreq_hz, _band_shape(f0, 0.35))
    env = _slow_envelope(rng, n, sfreq_hz, depth=0.5)
    left = (0.8 * common + 0.6 * sides[0]) * env
    right = (0.8 * common + 0.6 * sides[1]) * env
    x = pos[:, 0]
    w_left = np.clip(0.5 - x / 0.12, 0.0, 1.0)
    amp_uv = rng.uniform(8.0, 12.0)  # RMS at O1/O2: peaks of 20-60 uV
    w = _posterior_weights(pos) * amp_uv
    return (w * w_left)[:, None] * left[None, :] + (w * (1 - w_left))[:, None] * right[None, :]


# --------------------------------------------------------------------------------------
# waveforms (time in seconds, unit peak)


def _spike_waveform(t: np.ndarray, width_s: float, slow_ratio: float = 0.45) -> np.ndarray:
    """Surface-negative sharp transient of total width ``width_s`` starting at t=0, with a
    small positive pre-phase and an after-going negative slow wave (spike-and-slow-wave)."""
    half = width_s / 2.0
    tri = np.clip(1.0 - np.abs(t - half) / half, 0.0, None) ** 1.4
    slow_s = 0.22
    ts = t - width_s - 0.02
    slow = np.where(
        (ts >= 0) & (ts <= slow_s), np.sin(np.pi * np.clip(ts, 0, slow_s) / slow_s), 0.0
    )
    pos_phase = 0.12 * np.exp(-0.5 * ((t - width_s - 0.01) / 0.012) ** 2)
    return -tri + pos_phase - slow_ratio * slow


def _add_at(data: np.ndarray, gains: np.ndarray, start: int, wave: np.ndarray) -> None:
    """``data[:, start:start+len] += gains ⊗ wave`` with clipping at the record edges."""
    n = data.shape[1]
    lo, hi = max(start, 0), min(start + wave.size, n)
    if hi <= lo:
        return
    active = gains != 0
    data[np.ix_(active, np.arange(lo, hi))] += (
        gains[active, None] * wave[None, lo - start : hi - start]
    )


def _edge_ramp(n_samples: int, ramp_samples: float) -> np.ndarray:
    """1 in the middle, falling linearly to 0 over ``ramp_samples`` at both ends, so an
    added burst starts and stops without a step."""
    k = np.arange(n_samples)
    return np.clip(np.minimum(k, k[::-1]) / ramp_samples, 0, 1)


# --------------------------------------------------------------------------------------
# events


@dataclass
class _Ctx:
    rng: np.random.Generator
    pos: np.ndarray
    ch_names: list[str]
    sfreq_hz: float
    n: int
    excluded: set[int]

    def pick_focus(self, candidates: Sequence[int] | None = None) -> int:
        pool = [i for i in (candidates if candidates is not None else range(len(self.ch_names)))
                if i not in self.excluded]  # fmt: skip
        if not pool:
            pool = list(range(len(self.ch_names)))
        return int(self.rng.choice(pool))


def _spike(ev: InjectedEvent, data: np.ndarray, ctx: _Ctx) -> InjectedEvent:
    lo, hi = (0.020, 0.070) if ev.kind == "spike" else (0.070, 0.200)
    if not lo <= ev.duration_s <= hi:
        raise SyntheticSpecError(
            f"a {ev.kind} lasts {lo * 1000:.0f}-{hi * 1000:.0f} ms (ACNS 2021); "
            f"got duration_s={ev.duration_s}"
        )
    amp = ev.amplitude_uv or _DEFAULT_AMPLITUDE_UV[ev.kind]
    if ev.channels:
        gains = _gains_for_channels(ctx.ch_names, ev.channels)
    else:
        gains = _field_gains(ctx.pos, ctx.pick_focus())
    t = np.arange(int((ev.duration_s + 0.3) * ctx.sfreq_hz)) / ctx.sfreq_hz
    start = round(ev.onset_s * ctx.sfreq_hz)
    _add_at(data, gains * amp, start, _spike_waveform(t, ev.duration_s))
    return replace(
        ev,
        channels=ev.channels or _names_above(ctx.ch_names, gains, 0.5),
        amplitude_uv=amp,
        truth_onsets_s=(ev.onset_s,),
        truth_durations_s=(ev.duration_s,),
    )


def _hemisphere(ctx: _Ctx, side: str) -> np.ndarray:
    x = ctx.pos[:, 0]
    return np.flatnonzero(x < -0.005) if side == "left" else np.flatnonzero(x > 0.005)


def _periodic(ev: InjectedEvent, data: np.ndarray, ctx: _Ctx) -> InjectedEvent:
    rate = ev.rate_hz or _DEFAULT_RATE_HZ[ev.kind]
    if not 0.1 <= rate <= 4.0:
        raise SyntheticSpecError(f"periodic discharges repeat at 0.1-4 Hz; got rate_hz={rate}")
    amp = ev.amplitude_uv or _DEFAULT_AMPLITUDE_UV[ev.kind]
    if ev.channels:
        gains = _gains_for_channels(ctx.ch_names, ev.channels)
    elif ev.kind == "lpd":
        side = str(ctx.rng.choice(["left", "right"]))
        hemi = _hemisphere(ctx, side)
        focus = ctx.pick_focus(hemi)
        d = np.linalg.norm(ctx.pos - ctx.pos[focus], axis=1)
        gains = np.exp(-0.5 * (d / 0.09) ** 2)
        other = _hemisphere(ctx, "right" if side == "left" else "left")
        gains[other] *= 0.12  # lateralized: the other side sees little of it
        midline = np.abs(ctx.pos[:, 0]) <= 0.005
        gains[midline] *= 0.5
    else:
        y = ctx.pos[:, 1]
        gains = 0.75 + 0.25 * np.clip(y / 0.08, -1, 1)  # GPDs often frontally predominant
    width_s = 0.10 if ev.kind == "lpd" else 0.13
    t = np.arange(int((width_s + 0.3) * ctx.sfreq_hz)) / ctx.sfreq_hz
    wave = _spike_waveform(t, width_s, slow_ratio=0.35)
    onsets: list[float] = []
    tk = ev.onset_s
    while tk + width_s <= ev.offset_s:
        onsets.append(tk)
        a = amp * ctx.rng.uniform(0.85, 1.15)
        _add_at(data, gains * a, round(tk * ctx.sfreq_hz), wave)
        tk += (1.0 / rate) * (1.0 + 0.04 * ctx.rng.standard_normal())
    level = 0.4
    return replace(
        ev,
        channels=ev.channels or _names_above(ctx.ch_names, gains, level),
        amplitude_uv=amp,
        rate_hz=rate,
        truth_onsets_s=tuple(onsets),
        truth_durations_s=tuple(width_s for _ in onsets),
    )


def _seizure(ev: InjectedEvent, data: np.ndarray, ctx: _Ctx) -> InjectedEvent:
    f_start = ev.rate_hz or _DEFAULT_RATE_HZ["seizure"]
    if not 2.5 < f_start <= 12.0:
        raise SyntheticSpecError(f"seizure rate_hz must lie in (2.5, 12] Hz; got {f_start}")
    amp = ev.amplitude_uv or _DEFAULT_AMPLITUDE_UV["seizure"]
    n_ev = round(ev.duration_s * ctx.sfreq_hz)
    t = np.arange(n_ev) / ctx.sfreq_hz
    frac = t / max(ev.duration_s, 1e-9)
    # Evolution: frequency slows from f_start to about half (not under 3 Hz), amplitude grows.
    f_end = max(3.0, 0.5 * f_start)
    freq = f_start + (f_end - f_start) * frac
    phase = 2 * np.pi * np.cumsum(freq) / ctx.sfreq_hz + ctx.rng.uniform(0, 2 * np.pi)
    wave = np.sin(phase) + 0.35 * np.sin(2 * phase - 0.6) + 0.15 * np.sin(3 * phase - 1.2)
    wave /= 1.3
    envelope = 0.3 + 0.7 * np.clip(frac / 0.6, 0, 1)
    taper = np.clip(np.minimum(t, ev.duration_s - t) / 0.5, 0, 1)
    wave = -wave * envelope * taper * amp
    if ev.channels:
        g = _gains_for_channels(ctx.ch_names, ev.channels)
        _add_at(data, g, round(ev.onset_s * ctx.sfreq_hz), wave)
        channels = tuple(ev.channels)
    else:
        focus = ctx.pick_focus()
        d = np.linalg.norm(ctx.pos - ctx.pos[focus], axis=1)
        # Spread: a focal onset that widens over the course of the seizure.
        sig_m = 0.05 + 0.07 * np.clip(frac / 0.7, 0, 1)
        g_t = np.exp(-0.5 * (d[:, None] / sig_m[None, :]) ** 2)
        start = round(ev.onset_s * ctx.sfreq_hz)
        hi = min(start + n_ev, ctx.n)
        data[:, start:hi] += g_t[:, : hi - start] * wave[None, : hi - start]
        channels = _names_above(ctx.ch_names, g_t[:, -1], 0.5)
    return replace(ev, channels=channels, amplitude_uv=amp, rate_hz=f_start,
                   truth_onsets_s=(ev.onset_s,), truth_durations_s=(ev.duration_s,))  # fmt: skip


def _burst_suppression(
    ev: InjectedEvent, data: np.ndarray, ctx: _Ctx, gain: np.ndarray
) -> InjectedEvent:
    """Suppressed stretch (background x0.1) with bursts of 1-4 s every 3-10 s."""
    amp = ev.amplitude_uv or _DEFAULT_AMPLITUDE_UV["burst_suppression"]
    sf = ctx.sfreq_hz
    a, b = round(ev.onset_s * sf), min(round(ev.offset_s * sf), ctx.n)
    gain[a:b] = 0.1
    onsets: list[float] = []
    durs: list[float] = []
    tk = ev.onset_s + ctx.rng.uniform(2.0, 5.0)
    while True:
        dur = float(ctx.rng.uniform(1.0, 4.0))
        if tk + dur > ev.offset_s - 1.0:
            break
        onsets.append(tk)
        durs.append(dur)
        s0, s1 = round(tk * sf), round((tk + dur) * sf)
        gain[s0:s1] = 1.0
        burst = _colored_noise(ctx.rng, 1, s1 - s0, sf, _band_shape(2.5, 2.0))[0]
        ramp = _edge_ramp(s1 - s0, 0.15 * sf)
        gains = 0.7 + 0.3 * ctx.rng.uniform(size=len(ctx.ch_names))
        _add_at(data, gains * amp * 0.45, s0, burst * ramp)
        tk += dur + float(ctx.rng.uniform(3.0, 10.0))
    return replace(
        ev,
        channels=ev.channels or tuple(ctx.ch_names),
        amplitude_uv=amp,
        truth_onsets_s=tuple(onsets),
        truth_durations_s=tuple(durs),
    )


def _blink_gains(ctx: _Ctx) -> np.ndarray:
    names = [c.lower() for c in ctx.ch_names]
    fp = [i for i, c in enumerate(names) if c in ("fp1", "fp2", "fpz")]
    # with no frontopolar electrode, the eyes still sit in front of the head
    eye = ctx.pos[fp] if fp else np.array([[-0.03, 0.10, -0.02], [0.03, 0.10, -0.02]])
    d = np.min(np.linalg.norm(ctx.pos[:, None, :] - eye[None, :, :], axis=-1), axis=1)
    return np.exp(-0.5 * (d / 0.04) ** 2)


def _blink(ev: InjectedEvent, data: np.ndarray, ctx: _Ctx, eog: np.ndarray) -> InjectedEvent:
    amp = ev.amplitude_uv or _DEFAULT_AMPLITUDE_UV["blink"]
    gains = _gains_for_channels(ctx.ch_names, ev.channels) if ev.channels else _blink_gains(ctx)
    t = np.arange(round(ev.duration_s * ctx.sfreq_hz)) / ctx.sfreq_hz
    # Fast lid closure, slower opening: a skewed bump, surface positive at Fp1/Fp2.
    x = t / max(ev.duration_s, 1e-9)
    wave = np.sin(np.pi * x**0.75) ** 2
    start = round(ev.onset_s * ctx.sfreq_hz)
    _add_at(data, gains * amp, start, wave)
    _add_at(eog[None, :], np.ones(1) * amp * 1.5, start, wave)
    return replace(ev, channels=ev.channels or _names_above(ctx.ch_names, gains, 0.5),
                   amplitude_uv=amp, truth_onsets_s=(ev.onset_s,),
                   truth_durations_s=(ev.duration_s,))  # fmt: skip


@lru_cache(maxsize=8)
def _muscle_sos(sfreq_hz: float, hi_hz: float) -> np.ndarray:
    """20 Hz to ``hi_hz`` band-pass of muscle bursts (second-order sections), designed once."""
    return signal.butter(4, [20.0, hi_hz], btype="bandpass", fs=sfreq_hz, output="sos")


def _muscle(ev: InjectedEvent, data: np.ndarray, ctx: _Ctx) -> InjectedEvent:
    amp = ev.amplitude_uv or _DEFAULT_AMPLITUDE_UV["muscle"]
    if ev.channels:
        gains = _gains_for_channels(ctx.ch_names, ev.channels)
    else:
        names = [c.upper() for c in ctx.ch_names]
        side = ctx.rng.choice(["L", "R", "B"])
        temporal = {"L": ("T7", "F7", "P7", "FT7", "TP7"), "R": ("T8", "F8", "P8", "FT8", "TP8")}
        chosen = set()
        for s in ("L", "R"):
            if side in (s, "B"):
                chosen |= set(temporal[s])
        gains = np.array([1.0 if c in chosen else 0.0 for c in names])
        if not gains.any():
            gains[:] = 1.0
    sos = _muscle_sos(ctx.sfreq_hz, min(70.0, 0.45 * ctx.sfreq_hz))
    n_ev = round(ev.duration_s * ctx.sfreq_hz)
    noise = signal.sosfilt(sos, ctx.rng.standard_normal((int(gains.size), n_ev)), axis=1)
    noise /= noise.std(axis=1, keepdims=True) + 1e-12
    ramp = _edge_ramp(n_ev, 0.1 * ctx.sfreq_hz)
    start = round(ev.onset_s * ctx.sfreq_hz)
    hi = min(start + n_ev, ctx.n)
    if hi > start:
        data[:, start:hi] += (gains[:, None] * amp * noise * ramp)[:, : hi - start]
    return replace(ev, channels=ev.channels or _names_above(ctx.ch_names, gains, 0.5),
                   amplitude_uv=amp, truth_onsets_s=(ev.onset_s,),
                   truth_durations_s=(ev.duration_s,))  # fmt: skip


# --------------------------------------------------------------------------------------
# sleep


def _normalise_stages(stages: Sequence[str], n_epochs: int) -> list[str]:
    out = []
    for s in stages:
        key = str(s).strip().upper()
        key = _STAGE_ALIASES.get(key, key)
        if key not in SLEEP_STAGES:
            raise SyntheticSpecError(
                f"unknown sleep stage {s!r}; use one of {', '.join(SLEEP_STAGES)} per 30 s epoch"
            )
        out.append(key)
    if len(out) != n_epochs:
        raise SyntheticSpecError(
            f"sleep_stages needs one stage per 30 s epoch: {n_epochs} for this duration, "
            f"got {len(out)}"
        )
    return out


def _sleep_activity(
    stages: list[str], rng: np.random.Generator, pos: np.ndarray, n: int, sfreq_hz: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stage-dependent activity added to the background.

    Returns the added activity (channels x samples), a per-sample alpha gain, a per-sample
    wake mask (blinks occur only in W) and a per-sample gain of the aperiodic background.
    """
    ep = round(SLEEP_EPOCH_S * sfreq_hz)
    alpha_g = {"W": 1.0, "N1": 0.2, "N2": 0.0, "N3": 0.0, "R": 0.1}
    theta_g = {"W": 0.0, "N1": 1.0, "N2": 0.7, "N3": 0.5, "R": 0.8}
    delta_g = {"W": 0.0, "N1": 0.1, "N2": 0.3, "N3": 1.0, "R": 0.1}

    def per_sample(table: dict[str, float]) -> np.ndarray:
        g = np.repeat([table[s] for s in stages], ep)[:n]
        g = np.pad(g, (0, max(0, n - g.size)), mode="edge")
        return ndimage.uniform_filter1d(g, size=int(2 * sfreq_hz), mode="nearest")

    y = pos[:, 1]
    frontal = np.clip(0.6 + 0.4 * y / 0.08, 0.2, 1.0)
    central = np.exp(
        -0.5 * (np.linalg.norm(pos - np.array([0.0, -0.01, 0.10]), axis=1) / 0.06) ** 2
    )
    # Sleep rhythms come from many cortical generators: independent narrow-band sources
    # mixed through the volume-conduction matrix, delta more widespread than theta.
    theta = _mixed_sources(rng, pos, n, sfreq_hz, _band_shape(5.5, 1.0), sigma_m=0.05) * 12.0
    delta = _mixed_sources(rng, pos, n, sfreq_hz, _band_shape(1.0, 0.4), sigma_m=0.08) * 45.0
    act = theta * per_sample(theta_g)[None, :]
    act += frontal[:, None] * delta * per_sample(delta_g)[None, :]
    for k, stage in enumerate(stages):
        if stage != "N2":
            continue
        e0 = k * SLEEP_EPOCH_S
        for t0 in np.sort(rng.uniform(e0 + 1, e0 + SLEEP_EPOCH_S - 2, size=rng.integers(1, 4))):
            dur = rng.uniform(0.6, 1.5)  # sleep spindle, 12-14 Hz
            tt = np.arange(round(dur * sfreq_hz)) / sfreq_hz
            sp = np.sin(2 * np.pi * rng.uniform(12, 14) * tt) * np.sin(np.pi * tt / dur) ** 2
            _add_at(act, central * 30.0, round(t0 * sfreq_hz), sp)
        if rng.uniform() < 0.6:  # K-complex: sharp negative then positive, about 0.8 s
            t0 = rng.uniform(e0 + 2, e0 + SLEEP_EPOCH_S - 3)
            tt = np.arange(round(1.0 * sfreq_hz)) / sfreq_hz
            kc = -np.exp(-0.5 * ((tt - 0.25) / 0.09) ** 2) + 0.6 * np.exp(
                -0.5 * ((tt - 0.6) / 0.15) ** 2
            )
            _add_at(act, frontal * central.clip(0.3) * 130.0, round(t0 * sfreq_hz), kc)
    wake = per_sample({"W": 1.0, "N1": 0.0, "N2": 0.0, "N3": 0.0, "R": 0.0}) > 0.5
    # REM: low-amplitude mixed frequency, so the broadband background is turned down too
    background_gain = per_sample({"W": 1.0, "N1": 1.0, "N2": 1.0, "N3": 1.0, "R": 0.7})
    return act, per_sample(alpha_g), wake, background_gain


# --------------------------------------------------------------------------------------
# main entry


def _check_request(duration_s: float, sfreq_hz: float, events: Sequence[InjectedEvent]) -> None:
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise SyntheticSpecError(
            f"duration_s must be a positive number of seconds, got {duration_s}"
        )
    if not (math.isfinite(sfreq_hz) and sfreq_hz >= MIN_SFREQ_HZ):
        raise WrongSamplingRate(
            f"sfreq_hz must be at least {MIN_SFREQ_HZ:.0f} Hz to carry spikes and muscle "
            f"activity, got {sfreq_hz}"
        )
    for ev in events:
        if ev.kind not in EVENT_KINDS:
            raise SyntheticSpecError(f"unknown event kind {ev.kind!r}; use one of {EVENT_KINDS}")
        if ev.onset_s < 0 or ev.duration_s <= 0 or ev.onset_s + ev.duration_s > duration_s:
            raise SyntheticSpecError(
                f"{ev.kind} at {ev.onset_s} s lasting {ev.duration_s} s does not fit in a "
                f"{duration_s} s recording; keep onset >= 0 and onset + duration <= duration_s"
            )
        if ev.amplitude_uv is not None and not ev.amplitude_uv > 0:
            raise SyntheticSpecError(f"amplitude_uv must be positive, got {ev.amplitude_uv}")


def _auto_blinks(
    rng: np.random.Generator, n: int, sfreq_hz: float, allowed: np.ndarray
) -> list[InjectedEvent]:
    """Spontaneous blinks, about 12 per minute while awake (Poisson, at least 1.5 s apart)."""
    duration_s = n / sfreq_hz
    out = []
    t = rng.exponential(5.0)
    while t + 0.5 < duration_s:
        dur = float(rng.uniform(0.25, 0.4))
        i0, i1 = int(t * sfreq_hz), min(int((t + dur) * sfreq_hz), n - 1)
        if allowed[i0] and allowed[i1]:
            out.append(InjectedEvent("blink", round(t, 4), round(dur, 4),
                                     amplitude_uv=float(rng.uniform(100, 200))))  # fmt: skip
        t += 1.5 + rng.exponential(3.5)
    return out


def _auto_muscle(
    rng: np.random.Generator, n: int, sfreq_hz: float, allowed: np.ndarray
) -> list[InjectedEvent]:
    """Chewing or jaw-clenching bursts, about one every 40 s, 1-4 s long."""
    duration_s = n / sfreq_hz
    out = []
    t = rng.uniform(5.0, 30.0)
    while t + 4.5 < duration_s:
        dur = float(rng.uniform(1.0, 4.0))
        if allowed[int(t * sfreq_hz)] and allowed[min(int((t + dur) * sfreq_hz), n - 1)]:
            out.append(InjectedEvent("muscle", round(t, 4), round(dur, 4),
                                     amplitude_uv=float(rng.uniform(15, 35))))  # fmt: skip
        t += dur + rng.exponential(40.0)
    return out


def generate_eeg(
    duration_s: float,
    *,
    sfreq_hz: float = 256.0,
    ch_names: Sequence[str] = STANDARD_1020_19,
    events: Sequence[InjectedEvent] = (),
    bad_channels: Mapping[str, str] | None = None,
    sleep_stages: Sequence[str] | None = None,
    line_freq_hz: float | None = 50.0,
    blinks: bool = True,
    muscle: bool = False,
    seed: int = 0,
    start_time: datetime | None = None,
) -> SyntheticEEG:
    """Generate a realistic multichannel scalp EEG with known events.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Modern 10-20/10-10 names present in MNE's ``standard_1020`` montage.
    events : sequence of InjectedEvent
        Events to inject; the returned ``events`` hold them with their ground truth resolved
        (channels, amplitude, rate, individual discharge onsets), plus the spontaneous
        blinks and muscle bursts.
    bad_channels : mapping of str to {"flat", "noisy"}, optional
        Channels to corrupt: ``flat`` (under 1 uV) or ``noisy`` (broadband noise of about
        60 uV RMS and strong line noise).
    sleep_stages : sequence of str, optional
        One stage per 30 s epoch among ``W``, ``N1``, ``N2``, ``N3``, ``R`` (``REM`` and
        ``Wake`` accepted); sets ``hypnogram``.
    line_freq_hz : float or None
        Mains frequency of the line noise (0.5-3 uV per channel); ``None`` for none.
    blinks, muscle : bool
        Spontaneous eye blinks (awake periods) and temporal muscle bursts.
    seed : int
        Seed of the random generator; the output is a pure function of the arguments.
    start_time : datetime, optional
        Measurement start (UTC); default 2024-01-01 08:00 UTC.

    Returns
    -------
    SyntheticEEG
        Data in microvolts with its ground truth.

    Raises
    ------
    SyntheticSpecError
        Unknown channel, event kind, bad-channel kind or sleep stage, or an event outside
        the recording.
    WrongSamplingRate
        A sampling rate under 100 Hz.

    References
    ----------
    Hirsch LJ et al. American Clinical Neurophysiology Society's Standardized Critical Care
    EEG Terminology: 2021 Version. J Clin Neurophysiol 38(1):1-29, 2021.
    Donoghue T et al. Parameterizing neural power spectra into periodic and aperiodic
    components. Nat Neurosci 23:1655-1665, 2020.
    """
    _check_request(duration_s, sfreq_hz, events)
    ch_names = list(ch_names)
    if len(set(ch_names)) != len(ch_names) or not ch_names:
        raise SyntheticSpecError(f"ch_names must be non-empty and unique, got {ch_names}")
    bad_channels = dict(bad_channels or {})
    for ch, kind in bad_channels.items():
        if ch not in ch_names or kind not in ("flat", "noisy"):
            raise SyntheticSpecError(
                f"bad_channels maps a channel of ch_names to 'flat' or 'noisy'; "
                f"got {ch!r}: {kind!r}"
            )
    pos = _positions_m(ch_names)
    rng = np.random.default_rng(seed)
    n = round(duration_s * sfreq_hz)
    if start_time is None:
        start_time = datetime(2024, 1, 1, 8, 0, 0, tzinfo=UTC)
    elif start_time.tzinfo is None:
        start_time = start_time.replace(tzinfo=UTC)

    background = _background(rng, pos, n, sfreq_hz)
    alpha = _alpha(rng, pos, n, sfreq_hz)
    hypnogram = None
    awake = np.ones(n, dtype=bool)
    if sleep_stages is not None:
        hypnogram = _normalise_stages(sleep_stages, math.ceil(duration_s / SLEEP_EPOCH_S))
        sleep_act, alpha_gain, awake, bg_gain = _sleep_activity(hypnogram, rng, pos, n, sfreq_hz)
        alpha *= alpha_gain[None, :]
        background = background * bg_gain[None, :] + sleep_act

    # Burst suppression turns the whole cortical background down (and alpha with it).
    gain = np.ones(n)
    ctx = _Ctx(rng, pos, ch_names, sfreq_hz, n, {ch_names.index(c) for c in bad_channels})
    events_data = np.zeros((len(ch_names), n))
    truth: list[InjectedEvent] = []
    for ev in events:
        if ev.kind == "burst_suppression":
            truth.append(_burst_suppression(ev, events_data, ctx, gain))
    if (gain < 1).any():
        gain = ndimage.uniform_filter1d(gain, size=max(1, int(0.1 * sfreq_hz)), mode="nearest")
        alpha_off = np.ones(n)
        for ev in truth:  # no alpha rhythm anywhere in a burst-suppression stretch
            alpha_off[round(ev.onset_s * sfreq_hz) : round(ev.offset_s * sfreq_hz)] = 0.0
        data = (background + alpha * alpha_off[None, :]) * gain[None, :]
        awake &= alpha_off > 0
    else:
        data = background + alpha
    data += events_data

    eog = np.zeros(n)
    for ev in events:
        if ev.kind in ("spike", "sharp_wave"):
            truth.append(_spike(ev, data, ctx))
        elif ev.kind in ("lpd", "gpd"):
            truth.append(_periodic(ev, data, ctx))
        elif ev.kind == "seizure":
            truth.append(_seizure(ev, data, ctx))
        elif ev.kind == "blink":
            truth.append(_blink(ev, data, ctx, eog))
        elif ev.kind == "muscle":
            truth.append(_muscle(ev, data, ctx))
    if blinks:
        for ev in _auto_blinks(rng, n, sfreq_hz, awake):
            truth.append(_blink(ev, data, ctx, eog))
    if muscle:
        for ev in _auto_muscle(rng, n, sfreq_hz, awake):
            truth.append(_muscle(ev, data, ctx))

    t = np.arange(n) / sfreq_hz
    if line_freq_hz is not None and line_freq_hz < sfreq_hz / 2:
        amp = rng.uniform(0.5, 3.0, len(ch_names))
        ph = rng.uniform(0, 2 * np.pi, len(ch_names))
        data += amp[:, None] * np.sin(2 * np.pi * line_freq_hz * t[None, :] + ph[:, None])
    for ch, kind in bad_channels.items():
        i = ch_names.index(ch)
        if kind == "flat":
            data[i] = rng.normal(0.0, 0.1, n) + rng.uniform(-0.3, 0.3)
        else:
            data[i] += rng.normal(0.0, 60.0, n)
            if line_freq_hz is not None and line_freq_hz < sfreq_hz / 2:
                data[i] += 25.0 * np.sin(2 * np.pi * line_freq_hz * t)
    truth.sort(key=lambda e: (e.onset_s, e.kind))
    return SyntheticEEG(
        data_uv=data,
        sfreq_hz=float(sfreq_hz),
        ch_names=ch_names,
        events=truth,
        bad_channels=bad_channels,
        hypnogram=hypnogram,
        start_time=start_time,
        seed=seed,
        _eog_uv=eog,
    )
