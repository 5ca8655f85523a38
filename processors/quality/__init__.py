"""Quality control: bad channels, artifact windows, repair and a quality report.

Bad channels follow the noisy-channel criteria of the PREP pipeline (Bigdely-Shamlo et al.
2015) as implemented by PyPREP, re-written here as vectorised numpy so that a 20-minute
19-channel recording is checked in well under a second:

=================  =========================================================================
reason             criterion (defaults in :class:`QCThresholds`)
=================  =========================================================================
``flat``           robust amplitude (IQR / 1.349) or standard deviation under ``flat_uv``
                   (0.5 uV) over the whole stretch.
``dropout``        more than ``dropout_bad_fraction`` (1 %) of its 1 s segments flat.
``deviation``      robust z-score of its robust amplitude across channels beyond
                   ``deviation_z`` (5) in either direction.
``hf_noise``       robust z-score of its noisiness, MAD(signal - lowpass) / MAD(lowpass)
                   with the low-pass at 45 Hz, above ``hf_noise_z`` (5). The part above
                   45 Hz holds 50/60 Hz mains noise and muscle (Nyquist is 128 Hz at 256 Hz).
``low_correlation`` in more than ``correlation_bad_fraction`` (40 %) of its 1 s segments,
                   its 98th-percentile absolute correlation with the other channels
                   (1-45 Hz) is under ``correlation_min`` (0.4). PREP flags from 1 % of the
                   segments; in hours-long clinical recordings a few seconds of a loose
                   electrode are the artifact windows' business, not a reason to replace a
                   channel for the whole recording.
``ransac``         predicted from random subsets of 25 % of the good channels with
                   spherical splines (50 subsets, median prediction), its correlation
                   with the prediction is under 0.75 in more than 40 % of its 4 s windows
                   (at most 20 windows, evenly spread, are used). Only on montages of at
                   least 32 channels with standard_1020 positions: on the 19-channel 10-20
                   montage a quarter of the electrodes is too sparse to predict from, and
                   RANSAC flagged good channels of a real clinical recording.
=================  =========================================================================

A channel meeting several criteria gets them all, joined by ``+`` in the order of the table
(``"deviation+hf_noise"``); the first is the primary reason.

Where PREP divides by the spread across channels, the spread has a floor (10 % of the
median amplitude; 0.05 or 15 % of the median noisiness) so that a recording whose channels
are all alike does not turn small differences into large z-scores, and the centre is always
the median of the data at hand, so that a global change of amplitude (sleep, suppression)
moves every channel alike.

Artifact windows are judged on the repaired windows (bad channels interpolated), per window
and channel, on four measures: peak-to-peak amplitude (blinks, movement), the largest
sample-to-sample step (electrode pops, jumps), the RMS amplitude in 25-45 Hz (muscle, below
the mains frequencies) and flat 1 s stretches. Each threshold is per channel, calibrated on
the recording (or on the first minutes of a stream) by robust statistics of the measure over
windows, bounded by fixed floors and ceilings (see :func:`calibrate_thresholds`).

For a live stream, :func:`calibrate_thresholds` learns on the first minutes the spreads
across channels, each channel's own baseline (relative amplitude, noisiness, rate of
low-correlation seconds) and the per-channel window thresholds; :func:`assess_window_stream`
then judges each new chunk against them (see there).

Repair interpolates bad channels from the good ones with spherical splines (Perrin et al.
1989) on the standard_1020 positions, the interpolation matrix of MNE's formula
(:func:`processors.geometry.spline_interpolation_matrix`, no private MNE call) computed once
per channel set; AutoReject (Jas et al. 2017) optionally repairs local artifacts per window.

References
----------
.. [1] Bigdely-Shamlo N, Mullen T, Kothe C, Su KM, Robbins KA (2015). The PREP pipeline:
       standardized preprocessing for large-scale EEG analysis. Front Neuroinform 9:16.
.. [2] Perrin F, Pernier J, Bertrand O, Echallier JF (1989). Spherical splines for scalp
       potential and current density mapping. Electroencephalogr Clin Neurophysiol
       72(2):184-187.
.. [3] Jas M, Engemann DA, Bekhti Y, Raimondo F, Gramfort A (2017). Autoreject: automated
       artifact rejection for MEG and EEG data. NeuroImage 159:417-429.
.. [4] Fischler MA, Bolles RC (1981). Random sample consensus. Commun ACM 24(6):381-395.
"""

from processors.errors import QCInputError
from processors.quality.channels import detect_bad_channels, montage_origin_m
from processors.quality.repair import autoreject_windows, repair_windows, unrepairable_channels
from processors.quality.report import (
    NO_SIGNAL_REASON,
    QualityResult,
    StreamQC,
    StreamWindowQuality,
    assess_quality,
    assess_window_stream,
)
from processors.quality.thresholds import ARTIFACT_REASONS, BAD_CHANNEL_REASONS, QCThresholds
from processors.quality.windows import WindowFlags, calibrate_thresholds, flag_artifact_windows

__all__ = [
    "ARTIFACT_REASONS",
    "BAD_CHANNEL_REASONS",
    "NO_SIGNAL_REASON",
    "QCInputError",
    "QCThresholds",
    "QualityResult",
    "StreamQC",
    "StreamWindowQuality",
    "WindowFlags",
    "assess_quality",
    "assess_window_stream",
    "autoreject_windows",
    "calibrate_thresholds",
    "detect_bad_channels",
    "flag_artifact_windows",
    "montage_origin_m",
    "repair_windows",
    "unrepairable_channels",
]
