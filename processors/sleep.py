"""Sleep staging with YASA: a hypnogram in 30 s epochs and its summary statistics.

YASA's :class:`yasa.SleepStaging` ships trained LightGBM classifiers inside the package (one per
combination of EEG, EOG, EMG and demographics, in ``yasa/classifiers``), so staging runs
offline. It uses one EEG channel, preferably central (C4-M1 or C3-M2 in the training data),
and optionally one EOG channel; it resamples to 100 Hz itself and needs at least one 30 s epoch,
and warns that fewer than 5 minutes give unreliable results because its features are smoothed
over 7.5 minutes. Data must not be z-scored or filtered beforehand.

Summary statistics follow the AASM definitions (Iber 2007; Silber et al. 2007) and are computed
here from the hypnogram:

* time in bed (TIB): the whole hypnogram;
* sleep onset latency (SOL): from the start to the first epoch of any sleep stage;
* sleep period time (SPT): from the first to the last epoch of sleep;
* wake after sleep onset (WASO): wake within the SPT;
* total sleep time (TST): N1 + N2 + N3 + REM;
* sleep efficiency (SE): TST / TIB x 100.

References
----------
.. [1] Vallat, R., & Walker, M. P. (2021). An open-source, high-performance tool for automated
   sleep staging. eLife, 10, e70092.
.. [2] Iber, C., et al. (2007). The AASM manual for the scoring of sleep and associated events:
   rules, terminology and technical specifications. American Academy of Sleep Medicine.
.. [3] Silber, M. H., et al. (2007). The visual scoring of sleep in adults. Journal of Clinical
   Sleep Medicine, 3(2), 121-131.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import mne
import numpy as np

from processors.errors import NonFiniteSamples, SleepInputError, WrongSamplingRate

#: Stage labels of the hypnogram (AASM): wake, N1, N2, N3, REM.
STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "R")
EPOCH_S: float = 30.0
#: YASA's classifiers smooth features over 7.5 min and warn under 5 min.
MIN_DURATION_S: float = 5 * 60.0
#: YASA refuses data sampled at 80 Hz or less.
MIN_SFREQ_HZ: float = 80.0
#: EEG channels YASA can stage on, best first: central (as in its training data), then frontal.
SLEEP_EEG_CHANNELS: tuple[str, ...] = ("C4", "C3", "Cz", "F4", "F3", "Fz")

#: YASA's stage names to ours.
_YASA_TO_STAGE: dict[str, str] = {
    "WAKE": "W",
    "W": "W",
    "N1": "N1",
    "N2": "N2",
    "N3": "N3",
    "REM": "R",
    "R": "R",
}


@dataclass
class SleepResult:
    """Sleep staging of one recording, or why there is none.

    Attributes
    ----------
    status : {'completed', 'skipped'}
    reason : str or None
        Why staging was skipped (too short, no suitable channel, sampling rate).
    hypnogram : list of str
        One of 'W', 'N1', 'N2', 'N3', 'R' per 30 s epoch, from the recording's start.
    stage_minutes : dict of str to float
        Minutes in each stage.
    stage_percent : dict of str to float
        Each stage's share of the time in bed, percent (sums to 100 with W).
    sleep_efficiency_percent : float or None
        Total sleep time / time in bed x 100.
    sleep_onset_latency_min : float or None
        Minutes from the start to the first sleep epoch; None when no sleep was scored.
    waso_min : float or None
        Wake after sleep onset, minutes; None when no sleep was scored.
    total_sleep_time_min : float or None
    time_in_bed_min : float or None
    epoch_s : float
        30 s.
    eeg_channel, eog_channel : str or None
        Channels YASA staged on.
    mean_confidence : float or None
        Mean over epochs of YASA's probability of the chosen stage.
    """

    status: Literal["completed", "skipped"]
    reason: str | None = None
    hypnogram: list[str] = field(default_factory=list)
    stage_minutes: dict[str, float] = field(default_factory=dict)
    stage_percent: dict[str, float] = field(default_factory=dict)
    sleep_efficiency_percent: float | None = None
    sleep_onset_latency_min: float | None = None
    waso_min: float | None = None
    total_sleep_time_min: float | None = None
    time_in_bed_min: float | None = None
    epoch_s: float = EPOCH_S
    eeg_channel: str | None = None
    eog_channel: str | None = None
    mean_confidence: float | None = None

    @property
    def n_epochs(self) -> int:
        return len(self.hypnogram)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        def _r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 3)

        return {
            "status": self.status,
            "reason": self.reason,
            "hypnogram": list(self.hypnogram),
            "stage_minutes": {k: _r(v) for k, v in self.stage_minutes.items()},
            "stage_percent": {k: _r(v) for k, v in self.stage_percent.items()},
            "sleep_efficiency_percent": _r(self.sleep_efficiency_percent),
            # The result document's names: efficiency as a fraction (0-1), minutes by stage.
            "sleep_efficiency": (
                None
                if self.sleep_efficiency_percent is None
                else round(float(self.sleep_efficiency_percent) / 100.0, 4)
            ),
            "sleep_stages": {k: _r(v) for k, v in self.stage_minutes.items()},
            "sleep_onset_latency_min": _r(self.sleep_onset_latency_min),
            "waso_min": _r(self.waso_min),
            "total_sleep_time_min": _r(self.total_sleep_time_min),
            "time_in_bed_min": _r(self.time_in_bed_min),
            "epoch_s": self.epoch_s,
            "eeg_channel": self.eeg_channel,
            "eog_channel": self.eog_channel,
            "mean_confidence": _r(self.mean_confidence),
        }


def skipped(reason: str) -> SleepResult:
    """A SleepResult with status 'skipped' and its reason."""
    return SleepResult(status="skipped", reason=reason)


def sleep_statistics(hypnogram: Sequence[str], epoch_s: float = EPOCH_S) -> dict[str, Any]:
    """AASM summary statistics of a hypnogram (see the module docstring).

    Parameters
    ----------
    hypnogram : sequence of str
        'W', 'N1', 'N2', 'N3' or 'R' per epoch.
    epoch_s : float
        Epoch length in seconds.

    Returns
    -------
    stats : dict
        ``stage_minutes``, ``stage_percent`` (of time in bed), ``time_in_bed_min``,
        ``total_sleep_time_min``, ``sleep_efficiency_percent``, and
        ``sleep_onset_latency_min`` and ``waso_min`` (None when no sleep was scored).

    Raises
    ------
    SleepInputError
        A label other than W, N1, N2, N3, R.
    """
    hyp = np.asarray(list(hypnogram), dtype=object)
    unknown = sorted({str(s) for s in hyp} - set(STAGES))
    if unknown:
        raise SleepInputError(f"unknown sleep stages {unknown}; use {', '.join(STAGES)}.")
    epoch_min = epoch_s / 60.0
    n = hyp.size
    minutes = {s: float(np.sum(hyp == s)) * epoch_min for s in STAGES}
    tib = n * epoch_min
    percent = {s: (100.0 * m / tib if tib > 0 else 0.0) for s, m in minutes.items()}
    asleep = np.flatnonzero(hyp != "W")
    tst = float(asleep.size) * epoch_min
    if asleep.size == 0:
        sol = waso = None
    else:
        sol = float(asleep[0]) * epoch_min
        spt = hyp[asleep[0] : asleep[-1] + 1]
        waso = float(np.sum(spt == "W")) * epoch_min
    return {
        "stage_minutes": minutes,
        "stage_percent": percent,
        "time_in_bed_min": tib,
        "total_sleep_time_min": tst,
        "sleep_efficiency_percent": 100.0 * tst / tib if tib > 0 else None,
        "sleep_onset_latency_min": sol,
        "waso_min": waso,
    }


def pick_sleep_channel(ch_names: Sequence[str]) -> str | None:
    """The best channel for YASA among ``ch_names`` (central first, then frontal), or None."""
    lower = {c.lower(): c for c in ch_names}
    for wanted in SLEEP_EEG_CHANNELS:
        if wanted.lower() in lower:
            return lower[wanted.lower()]
    return None


def analyze_sleep(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    eog_uv: np.ndarray | None = None,
    min_duration_s: float = MIN_DURATION_S,
    metadata: dict[str, Any] | None = None,
) -> SleepResult:
    """Stage sleep with YASA on one central (or frontal) EEG channel.

    Parameters
    ----------
    data_uv : np.ndarray, shape (n_channels, n_samples)
        Unfiltered EEG in microvolts (YASA filters itself and must not get z-scored data).
    sfreq_hz : float
        Sampling rate; YASA needs more than 80 Hz.
    ch_names : sequence of str
        Standard 10-20 names of the rows of ``data_uv``.
    eog_uv : np.ndarray, shape (n_samples,), optional
        An EOG channel in microvolts (left outer canthus preferred); improves wake/REM.
    min_duration_s : float
        Recordings shorter than this are skipped (default 5 min, YASA's own minimum).
    metadata : dict, optional
        ``age`` (years) and ``male`` (bool) for YASA's demographic classifiers.

    Returns
    -------
    SleepResult
        'completed' with the hypnogram and statistics, or 'skipped' with the reason: too
        short (the length and the minimum), no central or frontal channel (which are wanted),
        or a sampling rate of 80 Hz or less.

    Raises
    ------
    NonFiniteSamples
        NaN or infinite samples in the chosen channels.
    WrongSamplingRate
        A non-positive sampling rate.
    SleepInputError
        ``data_uv`` and ``ch_names`` disagree, or ``eog_uv`` has another length.

    References
    ----------
    Vallat & Walker (2021), eLife 10:e70092.
    """
    data_uv = np.asarray(data_uv)
    if data_uv.ndim != 2 or data_uv.shape[0] != len(ch_names):
        raise SleepInputError(
            f"data_uv must be (n_channels, n_samples) with one row per name: got shape "
            f"{data_uv.shape} for {len(ch_names)} channel names."
        )
    if not sfreq_hz > 0:
        raise WrongSamplingRate(f"sampling rate must be positive, got {sfreq_hz} Hz.")
    duration_s = data_uv.shape[1] / sfreq_hz
    if duration_s < max(min_duration_s, EPOCH_S):
        return skipped(
            f"recording too short for sleep staging: {duration_s / 60:.1f} min "
            f"({duration_s:.0f} s), at least {max(min_duration_s, EPOCH_S) / 60:.1f} min "
            "needed (YASA smooths its features over several minutes)."
        )
    channel = pick_sleep_channel(ch_names)
    if channel is None:
        return skipped(
            "no central or frontal EEG channel for sleep staging: one of "
            f"{', '.join(SLEEP_EEG_CHANNELS)} is wanted, the recording has "
            f"{', '.join(ch_names) or 'none'}."
        )
    if sfreq_hz <= MIN_SFREQ_HZ:
        return skipped(
            f"sampling rate {sfreq_hz} Hz too low for sleep staging: YASA needs more than "
            f"{MIN_SFREQ_HZ:.0f} Hz."
        )
    eeg = data_uv[list(ch_names).index(channel)]
    rows = [eeg]
    names = [channel]
    types = ["eeg"]
    if eog_uv is not None:
        eog_uv = np.asarray(eog_uv).ravel()
        if eog_uv.size != eeg.size:
            raise SleepInputError(
                f"eog_uv has {eog_uv.size} samples but the EEG has {eeg.size}; give the EOG "
                "channel of the same recording."
            )
        rows.append(eog_uv)
        names.append("EOG")
        types.append("eog")
    stacked = np.vstack(rows).astype(np.float64, copy=False)  # vstack has copied already
    if not np.isfinite(stacked).all():
        raise NonFiniteSamples(
            f"NaN or infinite samples in {', '.join(names)}; repair or crop them before "
            "sleep staging."
        )
    info = mne.create_info(names, float(sfreq_hz), ch_types=types)
    raw = mne.io.RawArray(stacked * 1e-6, info, verbose="error")
    return _stage(raw, channel, "EOG" if eog_uv is not None else None, metadata)


def _stage(
    raw: mne.io.BaseRaw, eeg_name: str, eog_name: str | None, metadata: dict[str, Any] | None
) -> SleepResult:
    """Run YASA and summarise its hypnogram."""
    import yasa  # imported late: YASA pulls in lightgbm, numba and pandas

    # YASA logs a warning for recordings under 5 min; our caller decides on the minimum.
    logging.getLogger("yasa").setLevel(logging.ERROR)
    staging = yasa.SleepStaging(raw, eeg_name=eeg_name, eog_name=eog_name, metadata=metadata)
    with warnings.catch_warnings():
        # The shipped classifiers pickle a LabelEncoder of scikit-learn 0.24; it unpickles
        # and works with current releases, which warn about the version gap.
        warnings.filterwarnings("ignore", message="Trying to unpickle estimator")
        hyp = staging.predict()
    labels = [_YASA_TO_STAGE[str(v).upper()] for v in np.asarray(hyp.hypno)]
    proba = getattr(hyp, "proba", None)
    confidence = float(np.asarray(proba).max(axis=1).mean()) if proba is not None else None
    stats = sleep_statistics(labels)
    return SleepResult(
        status="completed",
        hypnogram=labels,
        eeg_channel=eeg_name,
        eog_channel=eog_name,
        mean_confidence=confidence,
        **stats,
    )


def stage_sleep(
    raw_or_recording: Any,
    *,
    eog_name: str | None = None,
    min_duration_s: float = MIN_DURATION_S,
    metadata: dict[str, Any] | None = None,
) -> SleepResult:
    """Sleep staging of an MNE Raw (volts) or a :class:`~processors.types.Recording`.

    Parameters
    ----------
    raw_or_recording : mne.io.BaseRaw or Recording
        EEG channels with standard names; a Recording's ``raw`` is used.
    eog_name : str, optional
        Name of an EOG channel in the Raw to use as well.
    min_duration_s : float
        See :func:`analyze_sleep`.
    metadata : dict, optional
        See :func:`analyze_sleep`.

    Returns
    -------
    SleepResult

    Raises
    ------
    SleepInputError
        Neither an MNE Raw nor a Recording, or ``eog_name`` is not one of its channels.
    """
    raw = getattr(raw_or_recording, "raw", raw_or_recording)
    if not isinstance(raw, mne.io.BaseRaw):
        raise SleepInputError(
            f"stage_sleep needs an mne Raw or a Recording, got {type(raw_or_recording).__name__};"
            " use analyze_sleep for a numpy array."
        )
    eeg_names = [
        c
        for c, t in zip(raw.ch_names, raw.get_channel_types(), strict=True)
        if t == "eeg" and c != eog_name
    ]
    eog_uv = None
    if eog_name is not None:
        if eog_name not in raw.ch_names:
            raise SleepInputError(
                f"no channel {eog_name!r} for the EOG; the recording has "
                f"{', '.join(raw.ch_names)}: name one of them, or pass eog_name=None."
            )
        eog_uv = raw.get_data(picks=[eog_name])[0] * 1e6
    channel = pick_sleep_channel(eeg_names)
    if channel is not None:
        # Only the staged channel is read, not the whole montage.
        names = [channel]
        data_uv = raw.get_data(picks=names) * 1e6
    else:
        # analyze_sleep gives the reason (too short, or which channels are wanted); the
        # samples themselves are not looked at (calloc'ed zeros cost no memory).
        names = eeg_names
        data_uv = np.zeros((len(names), raw.n_times), dtype=np.float32)
    return analyze_sleep(
        data_uv,
        float(raw.info["sfreq"]),
        names,
        eog_uv=eog_uv,
        min_duration_s=min_duration_s,
        metadata=metadata,
    )
