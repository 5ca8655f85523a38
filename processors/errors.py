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


class SyntheticSpecError(EEGError, ValueError):
    """A request to the synthetic generator that cannot be honoured."""

    code = "invalid_synthetic_spec"


class SleepInputError(EEGError, ValueError):
    """Input that sleep staging cannot take: data and channel names that disagree, an EOG of
    another length, an unknown stage label, or an object that is not a recording."""

    code = "invalid_sleep_input"


class InvalidSignalError(EEGError, ValueError):
    """A signal handed to a detector with the wrong shape or channel list."""

    code = "invalid_signal"


class QCInputError(EEGError, ValueError):
    """Input that quality control cannot use: wrong shape, unknown or duplicated channels,
    or thresholds calibrated for another montage."""

    code = "invalid_qc_input"


class ProbeTrainingError(EEGError):
    """The probe cannot be trained on what it was given (one class only, bad shapes...)."""

    code = "probe_training_error"


class StreamChunkError(EEGError):
    """A stream chunk that does not fit the stream: wrong shape, a gap, a bad position."""

    code = "stream_chunk_error"


class WindowScoreError(EEGError, ValueError):
    """Window scores or quality weights that cannot be aggregated (empty, outside [0, 1],
    negative, or of mismatched lengths)."""

    code = "invalid_window_scores"


class CapNumberingUnknown(NoEEGChannels):
    """Channels numbered by their position on a cap (``A1``...``D32``, ``E1``...``E256``) with no
    standard layout to place them: they are not 10-10 names and are not read as such."""
