"""Repair: spherical-spline interpolation of bad channels (never dropped), AutoReject."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace

import mne
import numpy as np

from processors.errors import QCInputError
from processors.geometry import (
    head_sphere_origin_m,
)
from processors.quality.channels import (
    _positions,
    _repair_plan,
)
from processors.quality.thresholds import (
    _check_batch,
)
from processors.types import WindowBatch

# --------------------------------------------------------------------------------------
# repair


def repair_windows(batch: WindowBatch, bad_channels: Sequence[str]) -> WindowBatch:
    """Interpolate bad channels from the good ones with spherical splines.

    The interpolation matrix (MNE's formula, Perrin et al. 1989, on standard_1020 positions
    about the fitted head-sphere origin) is computed once per channel set and applied to every
    window with one matrix product. Channels are never dropped: the same names, in the same order,
    come out. A bad channel without a standard position (or with fewer than 4 good
    positioned channels to draw on) is left as it is; :func:`assess_quality` reports it.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts.
    bad_channels : sequence of str
        Channels of ``batch`` to interpolate.

    Returns
    -------
    WindowBatch
        A copy with the bad channels replaced.

    Raises
    ------
    QCInputError
        A bad channel that is not in the batch.
    """
    names = tuple(batch.ch_names)
    unknown = sorted(set(bad_channels) - set(names))
    if unknown:
        raise QCInputError(
            f"bad channels {unknown} are not among the batch's channels {list(names)}"
        )
    bad_idx, good_idx, matrix, _ = _repair_plan(names, tuple(sorted(set(bad_channels))))
    data = np.array(batch.data_uv, dtype=np.float32, copy=True)
    if bad_idx.size:
        data[:, bad_idx, :] = np.matmul(matrix, data[:, good_idx, :])
    return replace(batch, data_uv=data, ch_names=list(names))


def unrepairable_channels(ch_names: Sequence[str], bad_channels: Sequence[str]) -> list[str]:
    """The bad channels :func:`repair_windows` leaves as they are (no position to use)."""
    return list(_repair_plan(tuple(ch_names), tuple(sorted(set(bad_channels))))[3])


# --------------------------------------------------------------------------------------
# AutoReject


def autoreject_windows(
    batch: WindowBatch,
    *,
    seed: int = 0,
    n_interpolate: Sequence[int] = (1, 2, 4),
    consensus: Sequence[float] = (0.2, 0.4, 0.6),
    cv: int = 3,
) -> tuple[WindowBatch, np.ndarray, np.ndarray]:
    """Repair local artifacts per window with AutoReject (Jas et al. 2017).

    AutoReject learns a peak-to-peak threshold per channel, then per window interpolates the
    channels above theirs (at most ``n_interpolate``) and marks as beyond repair the windows
    where more than ``consensus`` of the channels are above. Grids are kept small and
    ``cv=3`` so that it runs on a few dozen windows; it is still slow (10-14 s on 300
    windows of 19 channels on this 2-core machine, against under 1 s for the rest of QC),
    hence optional.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts, best with bad channels already interpolated.
    seed : int
        Random state of AutoReject's threshold search and folds.
    n_interpolate, consensus : sequence
        The grids AutoReject cross-validates.
    cv : int
        Number of folds; the batch needs at least ``cv`` windows.

    Returns
    -------
    repaired : WindowBatch
        Same windows and channels; repaired windows hold AutoReject's interpolation, windows
        beyond repair are returned unchanged.
    beyond_repair : ndarray of bool, shape (n_windows,)
    interpolated : ndarray of bool, shape (n_windows, n_channels)
        Channels AutoReject interpolated in each window.

    Raises
    ------
    QCInputError
        Fewer than ``cv`` windows or fewer than 4 channels with standard positions.
    """
    from autoreject import AutoReject

    names = _check_batch(batch)
    if batch.n_windows < max(cv, 2):
        raise QCInputError(
            f"AutoReject needs at least {max(cv, 2)} windows for {cv}-fold cross-validation, "
            f"got {batch.n_windows}; run it on a longer stretch"
        )
    pos = _positions(names)
    picks = np.flatnonzero(np.isfinite(pos).all(axis=1))
    if picks.size < 4:
        raise QCInputError(
            f"AutoReject interpolates from electrode positions; only {picks.size} of the "
            f"channels {names} have standard_1020 positions (at least 4 needed)"
        )
    origin = head_sphere_origin_m()
    montage = mne.channels.make_dig_montage(
        ch_pos={names[i]: pos[i] + origin for i in picks}, coord_frame="head"
    )
    info = mne.create_info(names, batch.sfreq_hz, "eeg")
    epochs = mne.EpochsArray(batch.data_uv.astype(np.float64) * 1e-6, info, verbose="error")
    epochs.set_montage(montage, on_missing="ignore", verbose="error")
    grid = np.array([k for k in n_interpolate if 0 < k < picks.size], dtype=int)
    ar = AutoReject(
        n_interpolate=grid if grid.size else np.array([1]),
        consensus=np.asarray(consensus, dtype=float),
        cv=cv,
        picks=picks,
        random_state=seed,
        n_jobs=1,
        verbose=False,
    )
    with warnings.catch_warnings(), mne.utils.use_log_level("error"):
        warnings.simplefilter("ignore")
        ar.fit(epochs)
        log = ar.get_reject_log(epochs)
        clean = ar.transform(epochs, reject_log=log)
    data = np.array(batch.data_uv, dtype=np.float32, copy=True)
    kept = np.asarray(clean.selection, dtype=int)
    data[kept] = (clean.get_data() * 1e6).astype(np.float32)
    beyond = np.asarray(log.bad_epochs, dtype=bool)
    interpolated = np.nan_to_num(log.labels, nan=0.0) == 2
    return replace(batch, data_uv=data, ch_names=list(names)), beyond, interpolated
