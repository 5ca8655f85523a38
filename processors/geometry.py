"""One head geometry: electrode positions, regions, neighbours, and the shared conventions.

Every stage (quality control, qEEG, the event detectors, the synthetic generator) reads the
head from here, so that "frontal", "a neighbour" or "suppressed" mean one thing:

- **positions**: MNE's ``standard_1020`` montage (metres), looked up by name regardless of
  case: :func:`positions_m` in the montage's own frame (regions, neighbours, sides, the
  generator), :func:`head_positions_m` in MNE's head frame with the sphere origin
  :func:`head_sphere_origin_m` (spline interpolation, as MNE's ``interpolate_bads`` does).
  One policy for a name it does not know: the row is NaN, the channel has no neighbour,
  and its region and side come from its 10-20 name (a prefix, an odd or even number) when
  the name has that form;
- **regions**: frontal (in front of the coronal line through FC, ``y > 3 cm``), frontopolar (the
  Fp and AF rows over the eyes, ``y > 7 cm``), posterior (``y < -3 cm``), and the named sets
  of the qEEG (:data:`REGIONS`, :data:`EYE_PRONE_CHANNELS`, :data:`POSTERIOR_CHANNELS`,
  :data:`HOMOLOGOUS_PAIRS`);
- **neighbours**: electrodes closer than one 10-20 inter-electrode distance (7.5 cm);
- **suppression**: activity under 10 uV peak to trough (ACNS 2021), that is an analytic
  envelope (half the peak-to-trough amplitude) under 5 uV;
- **the minimum sampling rate**, 100 Hz: the detectors measure muscle up to 45 Hz and spikes
  of 20 ms, and every filter's top edge must sit below 0.9 of the Nyquist frequency.

References
----------
Hirsch LJ et al. American Clinical Neurophysiology Society's Standardized Critical Care EEG
Terminology: 2021 Version. J Clin Neurophysiol 38(1):1-29, 2021.
Oostenveld R, Praamstra P. The five percent electrode system for high-resolution EEG and ERP
measurements. Clin Neurophysiol 112(4):713-719, 2001.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

#: Lowest sampling rate any stage accepts.
MIN_SFREQ_HZ: float = 100.0
#: Suppression: activity under this peak to trough (ACNS 2021).
SUPPRESSION_PP_UV: float = 10.0
#: The same threshold on an analytic envelope (half the peak-to-trough amplitude).
SUPPRESSION_ENVELOPE_UV: float = SUPPRESSION_PP_UV / 2.0
#: Electrodes closer than this are neighbours (about one 10-20 inter-electrode distance).
NEIGHBOUR_DISTANCE_M: float = 0.075
#: Region boundaries on the anterior (y) axis of the head frame.
FRONTAL_Y_M: float = 0.03
FRONTOPOLAR_Y_M: float = 0.07
POSTERIOR_Y_M: float = -0.03
#: Within this of the midline (x) an electrode is on neither side.
MIDLINE_X_M: float = 0.005

#: Scalp regions of the 10-20 system used for regional slowing ratios.
REGIONS: dict[str, tuple[str, ...]] = {
    "frontal": ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8"),
    "central": ("C3", "Cz", "C4"),
    "temporal": ("T7", "T8", "P7", "P8"),
    "parietal": ("P3", "Pz", "P4"),
    "occipital": ("O1", "O2", "Oz"),
}
#: Channels where eye movements and blinks put large slow waves that are not cerebral.
EYE_PRONE_CHANNELS: tuple[str, ...] = ("Fp1", "Fp2", "Fpz", "F7", "F8", "AF7", "AF8")
#: Channels over which the posterior dominant rhythm is sought.
POSTERIOR_CHANNELS: tuple[str, ...] = ("O1", "O2", "P7", "P8", "Pz", "P3", "P4")
#: Homologous left/right pairs for asymmetry (van Putten 2007).
HOMOLOGOUS_PAIRS: tuple[tuple[str, str], ...] = (
    ("Fp1", "Fp2"),
    ("F3", "F4"),
    ("C3", "C4"),
    ("P3", "P4"),
    ("O1", "O2"),
    ("F7", "F8"),
    ("T7", "T8"),
    ("P7", "P8"),
)


@lru_cache(maxsize=1)
def _table() -> dict[str, np.ndarray]:
    from processors.montage import standard_1020_montage

    pos = standard_1020_montage().get_positions()["ch_pos"]
    return {k.lower(): np.asarray(v, dtype=float) for k, v in pos.items()}


def _look_up(table: dict[str, np.ndarray], ch_names: Sequence[str]) -> np.ndarray:
    """Rows of ``table`` by lower-case name; NaN rows for unknown names (the one policy)."""
    out = np.full((len(ch_names), 3), np.nan)
    for i, name in enumerate(ch_names):
        p = table.get(name.lower())
        if p is not None and np.isfinite(p).all():
            out[i] = p
    return out


def positions_m(ch_names: Sequence[str]) -> np.ndarray:
    """Electrode positions (m, the montage's frame), shape (n, 3); NaN rows for unknown names."""
    return _look_up(_table(), ch_names)


@lru_cache(maxsize=1)
def _head_table() -> tuple[dict[str, np.ndarray], np.ndarray]:
    import mne

    from processors.montage import standard_1020_montage

    montage = standard_1020_montage()
    info = mne.create_info(montage.ch_names, 256.0, "eeg")
    info.set_montage(montage, verbose="error")
    pos = {ch["ch_name"].lower(): np.array(ch["loc"][:3], dtype=float) for ch in info["chs"]}
    _, origin, _ = mne.bem.fit_sphere_to_headshape(info, units="m", verbose="error")
    return pos, np.asarray(origin, dtype=float)


def head_positions_m(ch_names: Sequence[str]) -> np.ndarray:
    """Positions (m) in MNE's head frame, shape (n, 3); NaN rows for unknown names."""
    return _look_up(_head_table()[0], ch_names)


def head_sphere_origin_m() -> np.ndarray:
    """Origin (m, head frame) of the sphere fitted once to the whole montage (94 electrodes and
    the fiducials), not to each recording's channels, so that a channel's interpolation does not
    depend on which other channels a file carries; pass it as ``origin`` to MNE's
    ``interpolate_bads`` to get the same numbers."""
    return _head_table()[1].copy()


def known(ch_names: Sequence[str]) -> np.ndarray:
    """Whether each channel has a position."""
    return np.isfinite(positions_m(ch_names)).all(axis=1)


def neighbour_matrix(
    ch_names: Sequence[str], max_distance_m: float = NEIGHBOUR_DISTANCE_M
) -> np.ndarray:
    """Boolean adjacency of electrodes closer than ``max_distance_m`` (an electrode is not its
    own neighbour); a channel without a position has no neighbour."""
    pos = positions_m(ch_names)
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    near = np.nan_to_num(d, nan=np.inf) < max_distance_m
    return near & ~np.eye(len(ch_names), dtype=bool)


def hemisphere_sides(ch_names: Sequence[str]) -> np.ndarray:
    """-1 left, +1 right, 0 midline: from the position, else from the 10-20 name (the trailing
    number: odd = left, even = right, as F9/F10; none or ``z`` = midline)."""
    pos = positions_m(ch_names)
    sides = np.zeros(len(ch_names), dtype=int)
    for i, name in enumerate(ch_names):
        x = pos[i, 0]
        if np.isfinite(x):
            sides[i] = -1 if x < -MIDLINE_X_M else (1 if x > MIDLINE_X_M else 0)
            continue
        number = re.search(r"(\d+)$", name.rstrip(".").strip())
        sides[i] = 0 if number is None else (-1 if int(number[1]) % 2 else 1)
    return sides


def _anterior_mask(ch_names: Sequence[str], y_m: float, prefixes: tuple[str, ...]) -> np.ndarray:
    y = positions_m(ch_names)[:, 1]
    by_name = np.array([c.lower().startswith(prefixes) for c in ch_names], dtype=bool)
    return np.where(np.isfinite(y), np.nan_to_num(y, nan=0.0) > y_m, by_name)


def frontal_mask(ch_names: Sequence[str]) -> np.ndarray:
    """Electrodes in front of the FC line (Fp, AF, F rows), where blinks show."""
    return _anterior_mask(ch_names, FRONTAL_Y_M, ("fp", "af", "f"))


def frontopolar_mask(ch_names: Sequence[str]) -> np.ndarray:
    """Electrodes over the eyes (the Fp and AF rows), where eye blinks and movements (and the
    undershoot a high-pass filter leaves after them) dominate."""
    return _anterior_mask(ch_names, FRONTOPOLAR_Y_M, ("fp", "af"))


def posterior_mask(ch_names: Sequence[str]) -> np.ndarray:
    """Electrodes behind the CP line (P, PO, O, I rows)."""
    y = positions_m(ch_names)[:, 1]
    by_name = np.array([c.lower().startswith(("p", "o", "i")) for c in ch_names], dtype=bool)
    return np.where(np.isfinite(y), np.nan_to_num(y, nan=0.0) < POSTERIOR_Y_M, by_name)


#: Spherical spline of Perrin et al. (1989) as MNE uses it: stiffness m = 4, 50 Legendre terms,
#: regularisation 1e-5 on the diagonal.
SPLINE_STIFFNESS: int = 4
SPLINE_LEGENDRE_TERMS: int = 50
SPLINE_ALPHA: float = 1e-5


def _spline_g(cos_angle: np.ndarray) -> np.ndarray:
    """Perrin's g(x) = 1/(4 pi) sum_n (2n + 1) / (n (n + 1))^m P_n(x)."""
    n = np.arange(1, SPLINE_LEGENDRE_TERMS + 1, dtype=float)
    factors = (2 * n + 1) / (n**SPLINE_STIFFNESS * (n + 1) ** SPLINE_STIFFNESS * 4 * np.pi)
    return np.polynomial.legendre.legval(cos_angle, np.concatenate([[0.0], factors]))


def spline_interpolation_matrix(pos_from_m: np.ndarray, pos_to_m: np.ndarray) -> np.ndarray:
    """Spherical-spline interpolation matrix (Perrin et al. 1989) from ``pos_from_m`` to
    ``pos_to_m`` (positions relative to the head-sphere centre), shape (n_to, n_from).

    The same formula as MNE's ``interpolate_bads`` (stiffness 4, 50 Legendre terms,
    regularisation 1e-5), computed here so that no private MNE function is called.

    References
    ----------
    Perrin F, Pernier J, Bertrand O, Echallier JF. Spherical splines for scalp potential and
    current density mapping. Electroencephalogr Clin Neurophysiol 72(2):184-187, 1989.
    """
    from scipy.linalg import pinv

    def unit(p: np.ndarray) -> np.ndarray:
        size = np.linalg.norm(p, axis=1, keepdims=True)
        return np.divide(p, size, out=np.array(p, dtype=float), where=size > 0)

    src, dst = unit(np.asarray(pos_from_m, float)), unit(np.asarray(pos_to_m, float))
    n_from, n_to = src.shape[0], dst.shape[0]
    g_from = _spline_g(src @ src.T)
    g_from.flat[:: n_from + 1] += SPLINE_ALPHA
    g_to = _spline_g(dst @ src.T)
    system = np.block([[g_from, np.ones((n_from, 1))], [np.ones((1, n_from)), np.zeros((1, 1))]])
    return np.hstack([g_to, np.ones((n_to, 1))]) @ pinv(system)[:, :-1]
