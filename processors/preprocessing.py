"""Preprocessing and windowing: from a recording or a live stream to 4 s windows at 256 Hz.

The house rule is that a whole file and a live stream give the same windows. The canonical path
is therefore per window: windows are cut at the native sampling rate on a fixed grid of start
samples (:func:`cut_windows` for a file, :class:`StreamWindower` for a stream), and one
vectorised function, :func:`condition_windows`, filters and resamples every window to 256 Hz.
A window depends only on its own native samples, so both paths give it the same values however
the stream was chunked.

:func:`condition_windows` works in the frequency domain, over all windows and channels at once:

1. offset, linear drift and the stationary mains sinusoids (the line frequency and its
   harmonics, amplitude and phase fitted per window) are removed by least-squares regression,
   as CleanLine and the PREP pipeline [3]_ remove line noise: a sinusoid removed this way
   leaves no edge transient, where a notch filter alone rings at the window's edges;
2. each window is padded on both sides by its mirror image (``numpy.pad`` mode ``symmetric``),
   by about half a window, so that the filters' edge transients fall mostly in the padding,
   and the padding is tapered to zero at its far ends (half a Hann window) so that the FFT's
   circular wrap joins zero to zero;
3. the real FFT of the padded window is multiplied by a real, non-negative gain, i.e. the
   filters are zero-phase:

   - band-pass: the squared magnitude of a 4th-order Butterworth high-pass at ``l_freq_hz`` and
     a 4th-order Butterworth low-pass at ``h_freq_hz``, the response of the forward-backward
     (``filtfilt``) 4th-order Butterworth band-pass: -6 dB at the cut-offs, 8th-order roll-off;
   - line-noise notch: the squared magnitude of second-order IIR notches (``scipy.signal.
     iirnotch``, Q = 30, -3 dB width f0/30 for one pass) at the line frequency and its
     harmonics below the Nyquist frequency. With ``line_freq_hz=None`` both the 50 Hz and the
     60 Hz families are notched: with the default 45 Hz low-pass both lie in the stop band, so
     notching the absent one costs nothing and no detection is needed window by window;

4. the spectrum is cut or zero-extended to the length that gives 256 Hz (band-limited FFT
   resampling; the low-pass at 45 Hz is far below the new Nyquist frequency, 128 Hz), inverse
   transformed, and the padding is cropped: exactly ``round(window_s * 256)`` samples remain.

A 4 s window cannot hold the 0.5 Hz high-pass of a continuous recording exactly: compared with
the same filters run over a whole recording, windows differ mostly below 1-2 Hz and in their
first and last ~0.25 s (on 1/f background, correlation about 0.97; above 2 Hz, above 0.99,
see the tests). This is the price of windows that do not depend on their neighbours, which is
what makes the file and the stream agree exactly.

:func:`prepare_recording` is the continuous counterpart for detectors that need a whole signal
at 256 Hz (MNE's polyphase resampling and FIR filters, documented there).

References
----------
.. [1] Gramfort A et al. (2013). MEG and EEG data analysis with MNE-Python. Front Neurosci 7:267.
.. [2] Widmann A, Schröger E, Maess B (2015). Digital filter design for electrophysiological
       data - a practical approach. J Neurosci Methods 250:34-46.
.. [3] Bigdely-Shamlo N, Mullen T, Kothe C, Su KM, Robbins KA (2015). The PREP pipeline:
       standardized preprocessing for large-scale EEG analysis. Front Neuroinform 9:16.
.. [4] Wang G et al. (2024). EEGPT: Pretrained transformer for universal and reliable
       representation of EEG signals. NeurIPS 37 (4 s windows at 256 Hz).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import scipy.fft
import scipy.signal

from processors.errors import StreamChunkError, WrongSamplingRate
from processors.io import check_finite, check_sfreq, scalp_eeg_channels
from processors.types import MODEL_SFREQ_HZ, WINDOW_S, Recording, WindowBatch

#: Default band-pass edges (Hz): slow drifts below 0.5 Hz and EMG/line noise above 45 Hz out.
L_FREQ_HZ: float = 0.5
H_FREQ_HZ: float = 45.0
#: Order of each Butterworth edge (applied forward-backward: the gain is squared).
BUTTER_ORDER: int = 4
#: Quality factor of the line-noise notches.
NOTCH_Q: float = 30.0
LINE_FREQS_HZ: tuple[float, float] = (50.0, 60.0)
#: Power at the line frequency must exceed its neighbourhood's median by this factor.
LINE_DETECTION_RATIO: float = 4.0
#: Target padding on each side of a window, as a fraction of the window.
_PAD_FRACTION: float = 0.5


# ---------------------------------------------------------------------------------------------
# Cutting windows at the native rate
# ---------------------------------------------------------------------------------------------


def _check_window(window_s: float, stride_s: float, sfreq_hz: float) -> int:
    """Validate window and stride; return the window length in native samples."""
    if not (window_s > 0 and stride_s > 0):
        raise ValueError(f"window_s and stride_s must be positive, got {window_s}, {stride_s}")
    n_native = round(window_s * sfreq_hz)
    if n_native < 2:
        raise ValueError(f"a {window_s} s window at {sfreq_hz} Hz has fewer than 2 samples")
    return n_native


def window_start_sample(index: np.ndarray | int, stride_s: float, sfreq_hz: float) -> np.ndarray:
    """Native sample at which window ``index`` starts: ``round(index * stride_s * sfreq_hz)``.

    Window ``k`` starts at exactly ``k * stride_s`` seconds; at rates where that is not a whole
    sample the window starts at the nearest sample (within half a sample period).
    """
    return np.round(np.asarray(index, dtype=np.float64) * stride_s * sfreq_hz).astype(np.int64)


def cut_windows(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    window_s: float = WINDOW_S,
    stride_s: float = WINDOW_S,
    recording_start: datetime | None = None,
) -> WindowBatch:
    """Cut a continuous signal into windows at its native rate, without any filtering.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        The signal in microvolts; sample 0 is the recording's first sample.
    sfreq_hz : float
        Its sampling rate.
    ch_names : sequence of str
        Channel names (kept as given).
    window_s, stride_s : float
        Window length and the step between window starts, in seconds.
    recording_start : datetime | None
        Wall-clock time of sample 0, carried along.

    Returns
    -------
    batch : WindowBatch
        ``data_uv`` of shape (n_windows, n_channels, round(window_s * sfreq_hz)), float32.
        Window ``k`` starts at ``start_s[k] = k * stride_s`` and has ``index[k] = k``. Only
        complete windows are returned: samples after the last complete window (a partial
        window at the end) are dropped.
    """
    n_native = _check_window(window_s, stride_s, sfreq_hz)
    n_channels, n_samples = data_uv.shape
    n_windows = 0
    if n_samples >= n_native:
        # Upper bound from the grid, then trim the rounding at the very end.
        n_windows = int((n_samples - n_native) / (stride_s * sfreq_hz)) + 2
        starts = window_start_sample(np.arange(n_windows), stride_s, sfreq_hz)
        n_windows = int(np.count_nonzero(starts + n_native <= n_samples))
    index = np.arange(n_windows, dtype=np.int64)
    windows = np.empty((0, n_channels, n_native), dtype=np.float32)
    if n_windows:
        starts = window_start_sample(index, stride_s, sfreq_hz)
        views = np.lib.stride_tricks.sliding_window_view(data_uv, n_native, axis=1)
        windows = views[:, starts].transpose(1, 0, 2).astype(np.float32)
    return WindowBatch(
        data_uv=windows.reshape(n_windows, n_channels, n_native),
        ch_names=list(ch_names),
        sfreq_hz=float(sfreq_hz),
        start_s=index * float(stride_s),
        index=index,
        recording_start=recording_start,
    )


# ---------------------------------------------------------------------------------------------
# Conditioning: filters and resampling, per window, vectorised
# ---------------------------------------------------------------------------------------------


def _pad_samples(n_native: int, n_out: int) -> int:
    """Padding (native samples, each side) that maps onto a whole number of output samples."""
    unit = n_native // math.gcd(n_native, n_out)
    return unit * max(1, math.ceil(_PAD_FRACTION * n_native / unit))


def _notch_freqs(line_freq_hz: float | None, nyquist_hz: float) -> list[float]:
    bases = LINE_FREQS_HZ if line_freq_hz is None else (line_freq_hz,)
    return [f for base in bases for f in np.arange(base, nyquist_hz, base) if f < nyquist_hz]


@lru_cache(maxsize=64)
def _gain(
    n_fft: int,
    sfreq_hz: float,
    l_freq_hz: float | None,
    h_freq_hz: float | None,
    line_freq_hz: float | None,
) -> np.ndarray:
    """Zero-phase gain on the rfft bins of an ``n_fft``-sample segment (see module notes)."""
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sfreq_hz)
    gain = np.ones_like(freqs)
    if l_freq_hz:
        with np.errstate(divide="ignore"):
            ratio = (freqs / l_freq_hz) ** (2 * BUTTER_ORDER)
        gain *= ratio / (1.0 + ratio)  # |H|^2 of the high-pass: one pass each way
    if h_freq_hz and h_freq_hz < sfreq_hz / 2:
        gain *= 1.0 / (1.0 + (freqs / h_freq_hz) ** (2 * BUTTER_ORDER))
    for f0 in _notch_freqs(line_freq_hz, sfreq_hz / 2):
        b, a = scipy.signal.iirnotch(f0, NOTCH_Q, fs=sfreq_hz)
        _, response = scipy.signal.freqz(b, a, worN=freqs, fs=sfreq_hz)
        gain *= np.abs(response) ** 2  # one pass each way
    gain.setflags(write=False)
    return gain


@lru_cache(maxsize=16)
def _taper(n: int) -> np.ndarray:
    """Rising half of a Hann window over ``n`` samples: brings the padding to zero at its far
    end, so the FFT's circular wrap joins zero to zero."""
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    ramp.setflags(write=False)
    return ramp


@lru_cache(maxsize=16)
def _nuisance_basis(n: int, sfreq_hz: float, line_freq_hz: float | None) -> np.ndarray:
    """Orthonormal basis (n, m) of offset, linear drift and mains sinusoids over ``n`` samples.

    The mains sinusoids are the line frequency's harmonics (both the 50 and 60 Hz families when
    ``line_freq_hz`` is None) below the Nyquist frequency less 1 Hz.
    """
    t = np.arange(n, dtype=np.float64) / sfreq_hz
    columns = [np.ones(n), t - t.mean()]
    for f0 in _notch_freqs(line_freq_hz, sfreq_hz / 2 - 1.0):
        columns += [np.cos(2 * np.pi * f0 * t), np.sin(2 * np.pi * f0 * t)]
    basis, _ = np.linalg.qr(np.column_stack(columns))
    basis.setflags(write=False)
    return basis


def _remove_nuisance(x: np.ndarray, sfreq_hz: float, line_freq_hz: float | None) -> np.ndarray:
    """Least-squares removal of offset, linear drift and stationary mains sinusoids per row."""
    basis = _nuisance_basis(x.shape[-1], sfreq_hz, line_freq_hz)
    return x - (x @ basis) @ basis.T


def condition_windows(
    batch: WindowBatch,
    *,
    l_freq_hz: float | None = L_FREQ_HZ,
    h_freq_hz: float | None = H_FREQ_HZ,
    line_freq_hz: float | None = None,
    n_samples_out: int | None = None,
    sfreq_out_hz: float = MODEL_SFREQ_HZ,
) -> WindowBatch:
    """Filter and resample every window of a batch to 256 Hz, all windows at once.

    Parameters
    ----------
    batch : WindowBatch
        Windows at their native rate (from :func:`cut_windows` or :class:`StreamWindower`).
    l_freq_hz, h_freq_hz : float | None
        Band-pass edges (4th-order Butterworth, zero-phase); None leaves that side open.
    line_freq_hz : float | None
        50 or 60: that family of harmonics is regressed out and notched; None: both families
        (see module notes).
    n_samples_out : int | None
        Samples per output window; default ``round(batch.window_s * sfreq_out_hz)``. Pass
        ``round(window_s * 256)`` when the native window length is not exact (odd rates).
    sfreq_out_hz : float
        Output rate, 256 Hz (EEGPT's).

    Returns
    -------
    batch : WindowBatch
        Same windows, channels, ``start_s`` and ``index``; ``data_uv`` float32 microvolts of
        shape (n_windows, n_channels, n_samples_out) at ``sfreq_out_hz``.
    """
    n_windows, n_channels, n_native = batch.data_uv.shape
    n_out = n_samples_out or round(n_native * sfreq_out_hz / batch.sfreq_hz)
    if l_freq_hz is not None and h_freq_hz is not None and not 0 <= l_freq_hz < h_freq_hz:
        raise ValueError(f"need 0 <= l_freq_hz < h_freq_hz, got {l_freq_hz}, {h_freq_hz}")
    if h_freq_hz is not None and h_freq_hz >= sfreq_out_hz / 2:
        raise ValueError(f"h_freq_hz {h_freq_hz} must be below {sfreq_out_hz / 2} Hz")
    out = np.empty((n_windows, n_channels, n_out), dtype=np.float32)
    if n_windows == 0:
        return dataclasses.replace(batch, data_uv=out, sfreq_hz=float(sfreq_out_hz))
    pad = _pad_samples(n_native, n_out)
    pad_out = pad * n_out // n_native
    n_fft, n_fft_out = n_native + 2 * pad, n_out + 2 * pad_out
    x = batch.data_uv.reshape(-1, n_native).astype(np.float64)
    x = _remove_nuisance(x, float(batch.sfreq_hz), line_freq_hz)
    x = np.pad(x, ((0, 0), (pad, pad)), mode="symmetric")
    ramp = _taper(pad)
    x[:, :pad] *= ramp
    x[:, -pad:] *= ramp[::-1]
    spectrum = scipy.fft.rfft(x, axis=-1)
    spectrum *= _gain(n_fft, float(batch.sfreq_hz), l_freq_hz, h_freq_hz, line_freq_hz)
    n_bins = min(spectrum.shape[-1], n_fft_out // 2 + 1)
    resized = np.zeros((spectrum.shape[0], n_fft_out // 2 + 1), dtype=spectrum.dtype)
    resized[:, :n_bins] = spectrum[:, :n_bins]
    if n_fft_out > n_fft and n_fft % 2 == 0:
        resized[:, n_fft // 2] *= 0.5  # the old Nyquist bin stands for +f and -f
    y = scipy.fft.irfft(resized, n=n_fft_out, axis=-1) * (n_fft_out / n_fft)
    out[:] = y[:, pad_out : pad_out + n_out].reshape(n_windows, n_channels, n_out)
    return dataclasses.replace(batch, data_uv=out, sfreq_hz=float(sfreq_out_hz))


def window_recording(
    recording: Recording,
    *,
    window_s: float = WINDOW_S,
    stride_s: float = WINDOW_S,
    l_freq_hz: float | None = L_FREQ_HZ,
    h_freq_hz: float | None = H_FREQ_HZ,
    line_freq_hz: float | None = None,
    condition: bool = True,
) -> WindowBatch:
    """Cut a whole recording into conditioned 256 Hz windows (the file path).

    Parameters
    ----------
    recording : Recording
        At any rate accepted by :func:`processors.io.check_sfreq`.
    window_s, stride_s : float
        Window length (4 s: 1024 samples at 256 Hz) and step between starts (``stride_s <
        window_s`` overlaps windows).
    l_freq_hz, h_freq_hz, line_freq_hz : float | None
        Filters, see :func:`condition_windows`. A stream must use the same values to give the
        same windows.
    condition : bool
        False returns the raw native-rate windows (no filter, no resampling).

    Returns
    -------
    batch : WindowBatch
        float32 microvolts; window ``k`` starts exactly ``k * stride_s`` seconds after the
        first sample and has index ``k``. The last, partial window is dropped: only windows
        wholly inside the recording are returned.
    """
    data_uv = recording.raw.get_data() * 1e6
    native = cut_windows(
        data_uv,
        recording.sfreq_hz,
        recording.ch_names,
        window_s=window_s,
        stride_s=stride_s,
        recording_start=recording.start_time,
    )
    if not condition:
        return native
    return condition_windows(
        native,
        l_freq_hz=l_freq_hz,
        h_freq_hz=h_freq_hz,
        line_freq_hz=line_freq_hz,
        n_samples_out=round(window_s * MODEL_SFREQ_HZ),
    )


# ---------------------------------------------------------------------------------------------
# The stream path
# ---------------------------------------------------------------------------------------------


class StreamWindower:
    """Turn chunks of a live stream, of any length, into the windows of the file path.

    Parameters
    ----------
    ch_names : sequence of str
        The stream's channel labels, one per chunk row, as the source writes them; they are
        normalised like a file's, and non-EEG rows are dropped.
    sfreq_hz : float
        The stream's native rate (e.g. 200 Hz); windows come out at 256 Hz.
    window_s, stride_s : float
        As :func:`window_recording`.
    l_freq_hz, h_freq_hz, line_freq_hz : float | None
        As :func:`window_recording`; use the same values to get the same windows.
    recording_start : datetime | None
        Wall-clock time of sample 0, carried into each batch.
    start_sample : int
        Absolute index of the first sample expected (0 for a stream from its start). Windows
        stay on the grid ``k * stride_s`` of the whole stream whatever the start.
    on_gap : {"raise", "restart"}
        A chunk that starts after the next expected sample: "raise" a
        :class:`StreamChunkError`; "restart" drops the partial window in progress and carries
        on from the new position (windows overlapping the gap are never emitted).
    condition : bool
        False emits the raw native-rate windows.

    Notes
    -----
    Samples already received are dropped from a chunk that starts early (at-least-once
    redelivery from Kafka), and a chunk wholly received before is ignored. A window is emitted
    as soon as its last sample arrives; the last partial window of a stream is never emitted,
    as in the file path. The object is plain Python and numpy state, so it pickles (e.g. into
    a Faust table).
    """

    def __init__(
        self,
        ch_names: Sequence[str],
        sfreq_hz: float,
        *,
        window_s: float = WINDOW_S,
        stride_s: float = WINDOW_S,
        l_freq_hz: float | None = L_FREQ_HZ,
        h_freq_hz: float | None = H_FREQ_HZ,
        line_freq_hz: float | None = None,
        recording_start: datetime | None = None,
        start_sample: int = 0,
        on_gap: Literal["raise", "restart"] = "raise",
        condition: bool = True,
    ) -> None:
        check_sfreq(sfreq_hz, "the stream")
        eeg, _ = scalp_eeg_channels(ch_names, "the stream")
        if on_gap not in ("raise", "restart"):
            raise ValueError(f"on_gap must be 'raise' or 'restart', got {on_gap!r}")
        self.n_input_channels = len(ch_names)
        self.rows = np.array([list(ch_names).index(name) for name in eeg], dtype=np.int64)
        self.ch_names = list(eeg.values())
        self.sfreq_hz = float(sfreq_hz)
        self.window_s, self.stride_s = float(window_s), float(stride_s)
        self.n_native = _check_window(window_s, stride_s, sfreq_hz)
        self.filters = {
            "l_freq_hz": l_freq_hz,
            "h_freq_hz": h_freq_hz,
            "line_freq_hz": line_freq_hz,
        }
        self.recording_start = recording_start
        self.on_gap = on_gap
        self.condition = condition
        self._buffer = np.empty((len(self.ch_names), 0), dtype=np.float32)
        self._buffer_start = int(start_sample)  # absolute index of the buffer's first sample
        self._next_sample = int(start_sample)  # absolute index of the next sample expected
        self._next_index = self._first_index_at(int(start_sample))

    def _first_index_at(self, sample: int) -> int:
        """Index of the first window on the grid that starts at or after ``sample``."""
        k = max(0, math.floor(sample / (self.stride_s * self.sfreq_hz)) - 1)
        while window_start_sample(k, self.stride_s, self.sfreq_hz) < sample:
            k += 1
        return k

    @property
    def next_sample(self) -> int:
        """Absolute index of the next sample the windower expects."""
        return self._next_sample

    @property
    def buffer_start(self) -> int:
        """Absolute index of the first sample held: the next window needs the samples from
        here on."""
        return self._buffer_start

    @property
    def next_window_index(self) -> int:
        """Index of the next window to emit: after a stream's last chunk, how many windows
        the stream had."""
        return self._next_index

    def _validate(self, chunk_uv: np.ndarray, first_sample: int, sfreq_hz: float | None) -> None:
        if sfreq_hz is not None and not math.isclose(sfreq_hz, self.sfreq_hz, rel_tol=1e-9):
            raise WrongSamplingRate(
                f"a chunk at {sfreq_hz:g} Hz arrived in a stream at {self.sfreq_hz:g} Hz; a "
                "stream keeps one rate. Start a new stream (new windower) for the new rate."
            )
        if chunk_uv.ndim != 2 or chunk_uv.shape[0] != self.n_input_channels:
            raise StreamChunkError(
                f"a chunk must be (channels, samples) with {self.n_input_channels} rows, one "
                f"per stream channel; got shape {chunk_uv.shape}. Send every channel in order."
            )
        if first_sample < 0:
            raise StreamChunkError(f"first_sample must be >= 0, got {first_sample}")

    def push(
        self, chunk_uv: np.ndarray, first_sample: int, *, sfreq_hz: float | None = None
    ) -> WindowBatch | None:
        """Add a chunk; return the windows it completes, or None.

        Parameters
        ----------
        chunk_uv : ndarray, shape (n_channels, n_samples)
            Samples in microvolts, one row per stream channel, any number of samples.
        first_sample : int
            Absolute index of the chunk's first sample in the stream.
        sfreq_hz : float | None
            The chunk's rate, when the source states it; checked against the stream's.

        Returns
        -------
        batch : WindowBatch | None
            The windows completed by this chunk (same values, ``start_s`` and ``index`` as
            :func:`window_recording` on the whole signal), or None when none is complete.

        Raises
        ------
        WrongSamplingRate
            ``sfreq_hz`` differs from the stream's.
        StreamChunkError
            Wrong number of rows, negative position, or a gap with ``on_gap="raise"``.
        NonFiniteSamples
            NaN or infinite samples in an EEG row (names the channels and counts).
        """
        chunk_uv = np.asarray(chunk_uv)
        first_sample = int(first_sample)
        self._validate(chunk_uv, first_sample, sfreq_hz)
        eeg = chunk_uv[self.rows]
        if first_sample > self._next_sample:
            if self.on_gap == "raise":
                missing = first_sample - self._next_sample
                raise StreamChunkError(
                    f"gap in the stream: expected sample {self._next_sample}, got a chunk "
                    f"starting at {first_sample} ({missing} samples, "
                    f"{missing / self.sfreq_hz:.3f} s, missing). Resend the missing samples, "
                    "or use on_gap='restart' to skip the windows that overlap the gap."
                )
            self._buffer = self._buffer[:, :0]
            self._buffer_start = self._next_sample = first_sample
            self._next_index = self._first_index_at(first_sample)
        skip = self._next_sample - first_sample  # already received (redelivery)
        if skip >= eeg.shape[1]:
            return None
        eeg = eeg[:, skip:]
        check_finite(eeg, self.ch_names, f"the chunk at sample {first_sample}")
        self._buffer = np.concatenate([self._buffer, eeg.astype(np.float32)], axis=1)
        self._next_sample += eeg.shape[1]
        return self._emit()

    def to_state(self) -> dict[str, Any]:
        """The windower as plain values (numbers, lists, float32 bytes), for a store that
        must not unpickle what it reads (a Faust table's changelog topic).

        :meth:`from_state` gives back a windower that continues exactly where this one is.
        """
        return {
            "ch_names": list(self.ch_names),
            "rows": self.rows.tolist(),
            "n_input_channels": self.n_input_channels,
            "sfreq_hz": self.sfreq_hz,
            "window_s": self.window_s,
            "stride_s": self.stride_s,
            "filters": dict(self.filters),
            "recording_start": (
                self.recording_start.isoformat() if self.recording_start is not None else None
            ),
            "on_gap": self.on_gap,
            "condition": self.condition,
            "buffer_start": self._buffer_start,
            "next_sample": self._next_sample,
            "next_index": self._next_index,
            "buffer_f32": self._buffer.astype("<f4").tobytes(),
        }

    def to_position_state(self) -> dict[str, Any]:
        """:meth:`to_state` without the samples held: the windower rewound to the first of
        them (:attr:`buffer_start`), to be pushed those samples again from a store that keeps
        them (a stream's log). Pushing them gives back exactly this windower."""
        return {**self.to_state(), "buffer_f32": b"", "next_sample": self._buffer_start}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StreamWindower:
        """A windower from :meth:`to_state`'s values."""
        self = cls.__new__(cls)
        self.ch_names = list(state["ch_names"])
        self.rows = np.asarray(state["rows"], dtype=np.int64)
        self.n_input_channels = int(state["n_input_channels"])
        self.sfreq_hz = float(state["sfreq_hz"])
        self.window_s, self.stride_s = float(state["window_s"]), float(state["stride_s"])
        self.n_native = _check_window(self.window_s, self.stride_s, self.sfreq_hz)
        self.filters = dict(state["filters"])
        start = state["recording_start"]
        self.recording_start = datetime.fromisoformat(start) if start is not None else None
        self.on_gap = state["on_gap"]
        self.condition = bool(state["condition"])
        self._buffer_start = int(state["buffer_start"])
        self._next_sample = int(state["next_sample"])
        self._next_index = int(state["next_index"])
        buffer = np.frombuffer(state["buffer_f32"], dtype="<f4").astype(np.float32)
        self._buffer = buffer.reshape(len(self.ch_names), -1)
        return self

    def _emit(self) -> WindowBatch | None:
        step = self.stride_s * self.sfreq_hz
        last = math.floor((self._next_sample - self.n_native) / step) + 1
        index = np.arange(self._next_index, max(self._next_index, last + 1), dtype=np.int64)
        starts = window_start_sample(index, self.stride_s, self.sfreq_hz)
        keep = starts + self.n_native <= self._next_sample
        index, starts = index[keep], starts[keep]
        batch = None
        if index.size:
            offsets = starts - self._buffer_start
            take = offsets[:, None] + np.arange(self.n_native)
            windows = self._buffer[:, take].transpose(1, 0, 2)
            batch = WindowBatch(
                data_uv=np.ascontiguousarray(windows),
                ch_names=list(self.ch_names),
                sfreq_hz=self.sfreq_hz,
                start_s=index * self.stride_s,
                index=index,
                recording_start=self.recording_start,
            )
            self._next_index = int(index[-1]) + 1
        # Keep only what the next window needs.
        next_start = int(window_start_sample(self._next_index, self.stride_s, self.sfreq_hz))
        drop = min(next_start, self._next_sample) - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[:, drop:]
            self._buffer_start += drop
        if batch is None or not self.condition:
            return batch
        return condition_windows(
            batch, **self.filters, n_samples_out=round(self.window_s * MODEL_SFREQ_HZ)
        )


# ---------------------------------------------------------------------------------------------
# The continuous path
# ---------------------------------------------------------------------------------------------


def detect_line_frequency(data_uv: np.ndarray, sfreq_hz: float) -> float | None:
    """Find the mains frequency, 50 or 60 Hz, from a peak in the spectrum.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        The signal.
    sfreq_hz : float
        Its rate.

    Returns
    -------
    line_freq_hz : float | None
        50.0 or 60.0 when the median-over-channels Welch spectrum (0.25 Hz resolution) at that
        frequency exceeds the median of its neighbourhood (2 to 5 Hz away) by
        :data:`LINE_DETECTION_RATIO`; the stronger of the two when both do; None when neither
        does or the rate cannot show them.
    """
    nperseg = min(data_uv.shape[-1], int(4 * sfreq_hz))
    freqs, psd = scipy.signal.welch(data_uv, fs=sfreq_hz, nperseg=nperseg, axis=-1)
    psd = np.median(psd, axis=0)
    best, best_ratio = None, LINE_DETECTION_RATIO
    for f0 in LINE_FREQS_HZ:
        if f0 + 1.0 >= sfreq_hz / 2:
            continue
        peak = psd[np.abs(freqs - f0) <= 0.5].max()
        distance = np.abs(freqs - f0)
        neighbours = psd[(distance >= 2.0) & (distance <= 5.0)]
        ratio = peak / max(float(np.median(neighbours)), np.finfo(float).tiny)
        if ratio > best_ratio:
            best, best_ratio = f0, ratio
    return best


def prepare_recording(
    recording: Recording,
    *,
    l_freq_hz: float = L_FREQ_HZ,
    h_freq_hz: float = H_FREQ_HZ,
    line_freq_hz: float | None = None,
) -> Recording:
    """A continuous, filtered copy of a recording at 256 Hz, for detectors that need one.

    Parameters
    ----------
    recording : Recording
        Any accepted rate; not modified.
    l_freq_hz, h_freq_hz : float
        Band-pass edges.
    line_freq_hz : float | None
        Mains frequency to notch; None detects it with :func:`detect_line_frequency` (no notch
        when no line peak is found).

    Returns
    -------
    recording : Recording
        Same id, identity and names; ``raw`` at 256 Hz. Filters, in order:

        - resampling: polyphase (``scipy.signal.resample_poly`` via MNE), Kaiser-windowed
          anti-alias FIR;
        - notch: MNE FIR notch (firwin, Hamming window, zero-phase; notch widths f0/200,
          0.5 Hz transition bands; 6.6 s long) at the line frequency and its harmonics below
          128 Hz;
        - band-pass: MNE FIR (firwin design, Hamming window, zero-phase, non-causal; automatic
          transition bands: 0.5 Hz at the 0.5 Hz edge (-6 dB at 0.25 Hz) and 11.25 Hz at the
          45 Hz edge (-6 dB at 50.6 Hz); 1691 taps, 6.6 s at 256 Hz).

        These are the classic MNE filters for long signals (overlap-add, bounded memory). Their
        edges differ from the windows' Butterworth response (-6 dB at 0.5 and 45 Hz, see
        :func:`condition_windows`): use the windows where the file and the stream must agree.
        The recorded ``raw.info`` keeps ``highpass``/``lowpass`` and the line frequency.
    """
    raw = recording.raw.copy()
    if line_freq_hz is None:
        line_freq_hz = detect_line_frequency(raw.get_data() * 1e6, raw.info["sfreq"])
    with warnings.catch_warnings():
        # MNE warns when a filter is longer than a short signal; edges are then reflected.
        warnings.simplefilter("ignore", RuntimeWarning)
        if not math.isclose(raw.info["sfreq"], MODEL_SFREQ_HZ):
            raw.resample(MODEL_SFREQ_HZ, method="polyphase", verbose="error")
        if line_freq_hz is not None:
            harmonics = np.arange(line_freq_hz, MODEL_SFREQ_HZ / 2, line_freq_hz)
            raw.notch_filter(harmonics, verbose="error")
            with raw.info._unlock():
                raw.info["line_freq"] = float(line_freq_hz)
        raw.filter(l_freq_hz, h_freq_hz, fir_design="firwin", phase="zero", verbose="error")
    return dataclasses.replace(recording, raw=raw)
