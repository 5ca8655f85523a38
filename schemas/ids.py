"""Deterministic identifiers of records, so that a replayed message names the same thing."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

#: Namespace of Brain-Go-Brrr's name-based UUIDs (uuid5 of the project's URL-like name).
BRRR_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://brain-go-brrr/eeg")


def detection_event_id(
    job_id: str, event_type: str, onset_s: float, channels: Iterable[str]
) -> str:
    """The UUID of a detected event, derived from what the event is.

    The same job, event type, onset (to the millisecond) and set of channels always give the
    same id, whatever the order of the channels, so a replayed or duplicated detection is
    recognised as the same event by the sink's upsert.

    Parameters
    ----------
    job_id : str
        The analysis job that found the event.
    event_type : str
        One of the ``EventType`` symbols (``seizure``, ``PLED``...).
    onset_s : float
        Onset in seconds from the recording's first sample.
    channels : iterable of str
        Channel names involved.

    Returns
    -------
    str
        A version-5 UUID in text form.
    """
    onset_ms = round(float(onset_s) * 1000.0)
    name = f"{job_id}|{event_type}|{onset_ms}|{','.join(sorted(set(channels)))}"
    return str(uuid.uuid5(BRRR_UUID_NAMESPACE, name))
