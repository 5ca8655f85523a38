"""Channel names: from what clinical files write to the standard 10-20/10-10 names.

Clinical files name the same electrode in many ways (``EEG Fp1-Ref``, ``FP1``, ``Fp1-LE``,
``Fc5.``) and older ones use the 1958 10-20 names that the 10-10 system renamed
(T3/T4/T5/T6 became T7/T8/P7/P8, see [1]_). This module maps every such name onto the
electrode names of MNE's ``standard_1020`` montage, with that montage's capitalisation, and sets
aside what is not scalp EEG: other signals (ECG, EOG, EMG, SpO2, respiration, triggers,
accelerometers, photic stimulation, DC inputs, Nihon Kohden ``POL`` extras), bipolar derivations
and the ear/mastoid references (A1, A2, M1, M2), which are references, not scalp electrodes.

References
----------
.. [1] American Clinical Neurophysiology Society (2016). Guideline 2: Guidelines for standard
       electrode position nomenclature. J Clin Neurophysiol 33(4):308-311.
.. [2] Oostenveld R, Praamstra P (2001). The five percent electrode system for high-resolution
       EEG and ERP measurements. Clin Neurophysiol 112(4):713-719.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from functools import lru_cache

import mne

from processors.caps import CapMapping, is_cap_numbered, map_cap_numbering

#: The 19 electrodes of the classic 10-20 montage, in modern (10-10) names.
STANDARD_1020_19: tuple[str, ...] = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8",
    "T7", "C3", "Cz", "C4", "T8",
    "P7", "P3", "Pz", "P4", "P8",
    "O1", "O2",
)  # fmt: skip

#: 1958 10-20 names renamed by the 10-10 system (ACNS guideline 2, 2016).
OLD_TO_NEW: dict[str, str] = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

#: Ear and mastoid references: recorded, but not scalp EEG.
REFERENCE_ELECTRODES: frozenset[str] = frozenset({"A1", "A2", "M1", "M2"})

# Words that mark a channel as another signal, wherever they appear in its name.
_NON_EEG_WORDS: tuple[str, ...] = (
    "ECG", "EKG", "EOG", "EMG", "SPO2", "SAO2", "SPO₂", "PULSE", "PLETH", "RESP", "THOR",
    "ABD", "FLOW", "SNORE", "PHOTIC", "TRIG", "STATUS", "STI ", "STIM", "EVENT", "MARK",
    "ACC", "ACCEL", "GYRO", "TEMP", "LIGHT", "POSITION", "BURSTS", "SUPPR", "IBI", "ANNOT",
)  # fmt: skip
_NON_EEG_PREFIXES: tuple[str, ...] = ("POL ", "POL_", "DC", "$")

# Reference tokens after the dash: "-Ref", "-LE" (linked ears), "-AR"/"-AVG" (average)...
_REF_TOKENS: frozenset[str] = frozenset(
    {"REF", "LE", "RE", "AR", "AV", "AVG", "AVE", "CAR", "LM", "A1A2", "A1+A2", "M1M2", "M1+M2"}
    | REFERENCE_ELECTRODES
)
_EEG_PREFIX = re.compile(r"^EEG[\s_:\-]*", re.IGNORECASE)


@lru_cache(maxsize=1)
def standard_1020_montage() -> mne.channels.DigMontage:
    """MNE's ``standard_1020`` montage (MNE 1.13 deprecates the name; the warning is muted).

    Returns
    -------
    montage : mne.channels.DigMontage
        The montage; callers must not modify it (it is cached).
    """
    with warnings.catch_warnings(), mne.utils.use_log_level("error"):
        # MNE also logs the warning where a log file handler is set: silence both.
        warnings.filterwarnings("ignore", message=".*standard_1020.*", category=FutureWarning)
        return mne.channels.make_standard_montage("standard_1020")


@lru_cache(maxsize=1)
def _name_table() -> dict[str, str]:
    """Upper-case name -> standard name, for every scalp electrode of the montage."""
    table = {
        name.upper(): name
        for name in standard_1020_montage().ch_names
        if name not in OLD_TO_NEW and name not in REFERENCE_ELECTRODES
    }
    table.update({old.upper(): new for old, new in OLD_TO_NEW.items()})
    return table


def _electrode(token: str) -> str | None:
    """The standard name of one electrode token, or None."""
    return _name_table().get(token.upper())


def normalize_channel_name(name: str) -> str | None:
    """Map a channel name as written in a file onto its standard 10-10 name.

    Parameters
    ----------
    name : str
        The channel label, e.g. ``'EEG Fp1-Ref'``, ``'FP1'``, ``'Fp1-LE'``, ``'Fc5.'``,
        ``'EEG T3-Ref'``.

    Returns
    -------
    standard : str | None
        The electrode's name in MNE's ``standard_1020`` capitalisation (``'Fp1'``, ``'FC5'``,
        ``'T7'``), or None when the channel is not scalp EEG: another signal, a Nihon Kohden
        ``POL`` extra, a DC input, an ear/mastoid reference (A1/A2/M1/M2), a bipolar derivation
        between two scalp electrodes (``'Fp1-F7'``) or a name outside the 10-10 system.

    Notes
    -----
    Old 10-20 names are renamed: T3->T7, T4->T8, T5->P7, T6->P8. A referential derivation
    keeps its active electrode whatever the reference (``-Ref``, ``-LE``, ``-AVG``, ``-A1``...).
    """
    token = bare_label(name)
    return None if token is None else _electrode(token)


def bare_label(name: str) -> str | None:
    """The electrode token of a channel label: ``'EEG Fp1-Ref'`` -> ``'Fp1'``, ``'Fc5.'`` ->
    ``'Fc5'``; None for another signal, a DC input, a bipolar derivation or an unknown
    construction. The token is not checked against the 10-10 system."""
    text = name.strip()
    upper = text.upper()
    if any(upper.startswith(prefix) for prefix in _NON_EEG_PREFIXES):
        return None
    if any(word in upper for word in _NON_EEG_WORDS):
        return None
    # PhysioNet's EEG Motor Movement set pads names with dots ("Fc5.", "Cz..").
    text = _EEG_PREFIX.sub("", text).replace(".", "")
    text = re.sub(r"\s+", "", text)
    parts = [part for part in text.split("-") if part]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        active, ref = parts
        if ref.upper() in _REF_TOKENS or ref.upper().startswith("REF"):
            return active
    # A bipolar derivation (Fp1-F7) or an unknown construction: not one electrode's signal.
    return None


def cap_mapping(names: Sequence[str]) -> CapMapping | None:
    """The cap mapping of a channel list numbered by cap position (BioSemi ``A1``-``H32``,
    EGI ``E1``-``E257``), or None when it is named in the 10-10 system.

    Raises
    ------
    CapNumberingUnknown
        Numbered by cap position, but no standard montage of MNE holds the numbering.
    """
    tokens = [bare_label(n) for n in names]
    known = set(_name_table()) | REFERENCE_ELECTRODES
    if not is_cap_numbered(tokens, known):
        return None
    sites = sorted(set(_name_table().values()))
    return map_cap_numbering(tokens, list(names), sites, priority_sites=STANDARD_1020_19)


def classify_channels(names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Split a file's channels into scalp EEG (with standard names) and the rest.

    Parameters
    ----------
    names : sequence of str
        The channel labels in file order.

    Returns
    -------
    eeg : dict of str to str
        Original label -> standard name, for the scalp EEG channels, in file order.
    set_aside : list of str
        Original labels that are not scalp EEG (see :func:`normalize_channel_name`) and
        duplicates, in file order.

    Raises
    ------
    CapNumberingUnknown
        Channels numbered by cap position that no standard layout holds (see
        :func:`cap_mapping`): they are never read letter by letter as 10-10 names.

    Notes
    -----
    A list numbered by cap position (BioSemi, EGI) is placed on the nearest 10-10 sites
    through the cap's standard montage (:mod:`processors.caps`); the electrodes that take no
    site are set aside. Duplicates are resolved by file order: when two labels map to the same
    electrode (e.g. ``'EEG Fp1-Ref'`` and ``'Fp1-LE'``), or the same label appears twice, the
    first one is kept and the later ones are set aside.
    """
    cap = cap_mapping(names)
    if cap is not None:
        return dict(cap.sites), [n for n in names if n not in cap.sites]
    eeg: dict[str, str] = {}
    taken: set[str] = set()
    set_aside: list[str] = []
    for name in names:
        standard = normalize_channel_name(name)
        if standard is None or standard in taken or name in eeg:
            set_aside.append(name)
            continue
        eeg[name] = standard
        taken.add(standard)
    return eeg, set_aside
