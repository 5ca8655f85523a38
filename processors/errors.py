"""Typed errors: each says what was wrong and what to do about it."""

from __future__ import annotations


class EEGError(Exception):
    """Base of every error a processor raises on bad input or a missing resource."""

    #: short machine-readable code, stable across versions (used in API answers and logs)
    code: str = "eeg_error"


class NotAnEEGFile(EEGError):
    """The file is not EDF/EDF+/BDF (or FIF), or its header is corrupt."""

    code = "not_an_eeg_file"


class AnnotationsOnly(EEGError):
    """An EDF+ file that holds annotations but no signal."""

    code = "annotations_only"


class NoEEGChannels(EEGError):
    """No recognisable scalp EEG channel among the file's channels."""

    code = "no_eeg_channels"


class RecordingTooShort(EEGError):
    """Shorter than one analysis window."""

    code = "recording_too_short"


class NonFiniteSamples(EEGError):
    """NaN or infinite samples in the signal."""

    code = "non_finite_samples"


class WrongSamplingRate(EEGError):
    """A sampling rate that cannot be used (non-positive, too low for the filters, or a
    window whose rate differs from its stream's)."""

    code = "wrong_sampling_rate"


class ModelUnavailable(EEGError):
    """EEGPT (or a probe) cannot be loaded: missing, corrupt or mismatched checkpoint."""

    code = "model_unavailable"
