"""Cap-specific channel numbering: BioSemi (``A1``-``H32``) and EGI/Geodesic (``E1``-``E257``).

High-density caps number their electrodes by position on the cap, not by the 10-10 system.
Read letter by letter, ``C1``-``C6`` or ``F1``-``F10`` of a BioSemi cap look like 10-10 names
and ``A1``/``A2`` like ear references, while they sit anywhere on the head. A channel list that
is numbered this way is recognised as such (:func:`is_cap_numbered`) and mapped through MNE's
standard montage of that cap (:func:`map_cap_numbering`): each 10-10 site takes the cap
electrode nearest to it in direction from the head's centre, one electrode per site, within
:data:`MAX_SITE_ANGLE_DEG`; the other electrodes are set aside. A numbered list that no standard
montage holds is refused with :class:`~processors.errors.CapNumberingUnknown`.

Directions, not positions, are compared: MNE's cap montages are idealised spheres and its
10-10 montage a realistic head, each in its own frame. Both are brought to the head frame of
their fiducials, and a sphere is fitted to each (for the 10-10 montage, to the sites at and
above the Fpz-T7-Oz line), so that the angles compare like with like; on MNE's ``biosemi64``
(named by the 10-10 system) the rule finds every named site again, 3 to 11 degrees away.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mne
import numpy as np

from processors.errors import CapNumberingUnknown

#: MNE's standard montages of numbered caps, per family, smallest first: the smallest that
#: holds every numbered channel of a file is taken.
CAP_MONTAGES: dict[str, tuple[str, ...]] = {
    "biosemi": ("biosemi128", "biosemi160", "biosemi256"),
    "egi": (
        "GSN-HydroCel-32", "GSN-HydroCel-64_1.0", "GSN-HydroCel-65_1.0", "GSN-HydroCel-128",
        "GSN-HydroCel-129", "GSN-HydroCel-256", "GSN-HydroCel-257",
    ),
}  # fmt: skip
#: A 10-10 site takes a cap electrode at most this far (about half the 10-10 spacing).
MAX_SITE_ANGLE_DEG: float = 12.0
#: A list is cap-numbered when it holds at least this many letter-number labels...
MIN_NUMBERED: int = 8
#: ...of which at least this share (and at least two) are no 10-10 name (A3, B12, E17...).
MIN_FOREIGN_SHARE: float = 0.25

_NUMBERED = re.compile(r"^([A-Z])(\d{1,3})$")


@dataclass(frozen=True)
class CapMapping:
    """Cap electrodes placed on 10-10 sites.

    Attributes
    ----------
    montage : str
        The MNE standard montage of the cap.
    sites : dict of str to str
        Cap label (as given) -> nearest 10-10 site.
    angle_deg : dict of str to float
        How far each mapped electrode lies from its site.
    n_cap_channels : int
        Numbered channels in the list.
    """

    montage: str
    sites: dict[str, str]
    angle_deg: dict[str, float]
    n_cap_channels: int

    def describe(self) -> dict[str, Any]:
        """What the result says about it."""
        return {
            "cap_numbering": self.montage,
            "positions": (
                f"{len(self.sites)} of {self.n_cap_channels} {self.montage} electrodes placed on "
                f"the nearest 10-10 sites (at most {MAX_SITE_ANGLE_DEG:g} degrees away); the "
                "others set aside"
            ),
            "sites": dict(self.sites),
            "max_angle_deg": round(max(self.angle_deg.values(), default=0.0), 1),
        }


def _numbered(tokens: Sequence[str | None]) -> list[tuple[int, str]]:
    """(index, upper-case token) of the letter-number labels."""
    return [(i, t.upper()) for i, t in enumerate(tokens) if t and _NUMBERED.match(t.upper())]


def is_cap_numbered(tokens: Sequence[str | None], ten_ten: set[str]) -> bool:
    """Whether bare labels (prefix and reference removed) number a cap's electrodes.

    Parameters
    ----------
    tokens : sequence of str or None
        One bare label per channel (None for channels that are not EEG).
    ten_ten : set of str
        Upper-case 10-10 names and ear references (A1, A2...).
    """
    numbered = _numbered(tokens)
    foreign = [t for _, t in numbered if t not in ten_ten]
    needed = max(2, int(np.ceil(MIN_FOREIGN_SHARE * len(numbered))))
    return len(numbered) >= MIN_NUMBERED and len(foreign) >= needed


def _choose_montage(cap_labels: Sequence[str], all_tokens: set[str], family: str) -> str | None:
    """The montage of the family that holds every numbered label and most of the other
    tokens (GSN-HydroCel-129 has a Cz beside E1-E128), the smallest on a tie; None if none."""
    best: tuple[int, str] | None = None
    for name in CAP_MONTAGES[family]:
        held = {n.upper() for n in _directions(name)[0]}
        if not all(t in held for t in cap_labels):
            continue
        extra = len(all_tokens & held)
        if best is None or extra > best[0]:
            best = (extra, name)
    return None if best is None else best[1]


def _family(labels: Sequence[str]) -> str:
    letters = {label[0] for label in labels}
    return "egi" if letters == {"E"} else "biosemi"


@lru_cache(maxsize=16)
def _directions(
    montage_name: str, fit_upper_only: bool = False
) -> tuple[tuple[str, ...], np.ndarray]:
    """Unit directions of a standard montage's electrodes from its fitted sphere's centre."""
    from mne.channels.montage import transform_to_head

    from processors.montage import standard_1020_montage

    montage = (
        standard_1020_montage()
        if montage_name == "standard_1020"
        else mne.channels.make_standard_montage(montage_name)
    )
    ch_pos = transform_to_head(montage.copy()).get_positions()["ch_pos"]
    names = tuple(ch_pos)
    pos = np.array([ch_pos[n] for n in names])
    fit = pos
    if fit_upper_only:  # at and above the Fpz-T7-Oz line: no 9/10 columns, ears, I or N rows
        fit = np.array(
            [p for n, p in zip(names, pos, strict=True) if not _low_site(n)], dtype=float
        )
    lhs = np.c_[2 * fit, np.ones(len(fit))]
    centre = np.linalg.lstsq(lhs, (fit**2).sum(axis=1), rcond=None)[0][:3]
    unit = pos - centre
    return names, unit / np.linalg.norm(unit, axis=1, keepdims=True)


def _low_site(name: str) -> bool:
    """Below the Fpz-T7-Oz line: the 9/10 columns, the I and N rows, ears and mastoids."""
    return (
        bool(re.search(r"(9|10)$", name))
        or name.startswith(("I", "N"))
        or name in ("A1", "A2", "M1", "M2")
    )


def map_cap_numbering(
    tokens: Sequence[str | None],
    labels: Sequence[str],
    ten_ten_sites: Sequence[str],
    priority_sites: Sequence[str] = (),
) -> CapMapping:
    """Place a cap-numbered channel list on 10-10 sites through the cap's standard montage.

    Parameters
    ----------
    tokens : sequence of str or None
        Bare labels, one per channel (None for channels that are not EEG).
    labels : sequence of str
        The labels as the file writes them (the keys of the mapping).
    ten_ten_sites : sequence of str
        The 10-10 sites that may be taken, in MNE's ``standard_1020`` capitalisation.
    priority_sites : sequence of str
        Sites placed first (the classic 19 of the 10-20 system), before the others may take
        the electrodes nearest them.

    Returns
    -------
    CapMapping

    Raises
    ------
    CapNumberingUnknown
        No MNE standard montage holds every numbered label.
    """
    numbered = _numbered(tokens)
    cap_labels = [t for _, t in numbered]
    family = _family(cap_labels)
    name = _choose_montage(cap_labels, {t.upper() for t in tokens if t}, family)
    if name is None:
        shown = ", ".join(cap_labels[:6] + (["..."] if len(cap_labels) > 6 else []))
        raise CapNumberingUnknown(
            f"the channels are numbered by cap position ({shown}; {len(cap_labels)} in all), not "
            "named in the 10-10 system, and no standard layout holds them all (tried "
            f"{', '.join(CAP_MONTAGES[family])}); they are not read as 10-10 names. Export the "
            "recording with 10-10 channel names, or with the cap's standard numbering."
        )
    montage_names, unit = _directions(name)
    index = {n.upper(): k for k, n in enumerate(montage_names)}
    site_names, site_unit = _directions("standard_1020", fit_upper_only=True)
    site_row = {n: k for k, n in enumerate(site_names)}
    cap_unit = unit[[index[t] for t in cap_labels]]
    sites: dict[str, str] = {}
    angles: dict[str, float] = {}
    # The classic 19 sites first (the 10-20 analyses read them), then the rest of the 10-10.
    first = [s for s in ten_ten_sites if s in priority_sites]
    for group in (first, [s for s in ten_ten_sites if s not in priority_sites]):
        wanted = [s for s in group if s in site_row]
        if not wanted:
            continue
        cos = site_unit[[site_row[s] for s in wanted]] @ cap_unit.T  # (sites, cap channels)
        angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        for flat in np.argsort(angle, axis=None):  # closest pairs first, one to one
            s, c = np.unravel_index(flat, angle.shape)
            if angle[s, c] > MAX_SITE_ANGLE_DEG:
                break
            label = labels[numbered[c][0]]
            if wanted[s] in sites.values() or label in sites:
                continue
            sites[label] = wanted[s]
            angles[label] = float(angle[s, c])
    ordered = {labels[i]: sites[labels[i]] for i, _ in numbered if labels[i] in sites}
    return CapMapping(name, ordered, angles, len(cap_labels))
