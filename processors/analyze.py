"""One analysis of one recording: quality control, EEGPT features, hierarchical detection, sleep.

``analyze`` is the whole-file entry point; the stream agents call the same stage functions
(:func:`run_quality`, :func:`run_features`, :func:`run_abnormality`) window by window, so a
recording analysed in one piece and one analysed as a stream give the same answer.

What each analysis type runs
----------------------------
``quick``
    Quality control and the quantitative-EEG abnormality screen. No EEGPT, no events, no
    sleep: a triage answer in a fraction of the time.
``screening``
    Quality control, EEGPT features (when a checkpoint is configured), abnormality (the
    trained probe on EEGPT features when one is given, the qEEG baseline otherwise), and,
    only for recordings found abnormal, the event detectors.
``comprehensive``
    ``screening`` plus AutoReject repair of local artifacts and YASA sleep staging (when the
    recording is long enough and has a suitable channel).

Stage rules: quality control always completes (a failure inside it degrades to a report that
says the quality is unknown and not acceptable). A stage that fails does not sink the others;
the stages downstream of it are ``skipped`` with reason ``upstream_failure``. When abnormality
scoring fails the answer is conservative: abnormal, confidence below 0.5, ``expedite``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from processors import abnormality, quality
from processors.events import DischargeScreen, detect_events, screen_discharges
from processors.preprocessing import prepare_recording, window_recording
from processors.sleep import analyze_sleep
from processors.sleep_screen import sleep_windows_from_hypnogram
from processors.types import WINDOW_S, AnalysisType, Recording, StageResult, WindowBatch

ANALYSIS_TYPES: tuple[str, ...] = ("quick", "screening", "comprehensive")

ProgressCallback = Callable[[str, float], None]

#: Skip reason of a stage the caller turned off.
TURNED_OFF = "turned off by the request (options.{} = false)"


@dataclass
class AnalysisOptions:
    """What ``analyze`` needs beyond the recording.

    Processors never read configuration: the caller loads the models (from its settings)
    and hands them in, or says why there are none.
    """

    #: a loaded ``processors.features.EEGPTFeatureExtractor``, or None
    feature_extractor: Any | None = None
    #: why there is no feature extractor (shown as the skip reason)
    feature_unavailable_reason: str | None = "no EEGPT checkpoint configured"
    #: a loaded ``processors.probe.AbnormalityProbe``, or None for the qEEG baseline
    probe: Any | None = None
    window_stride_s: float = WINDOW_S
    #: None: AutoReject only in the comprehensive analysis
    use_autoreject: bool | None = None
    line_freq_hz: float | None = None
    feature_batch_windows: int = 64
    #: the caller turned these stages off (they are ``skipped`` and say so)
    event_detection: bool = True
    sleep_analysis: bool = True


@dataclass(frozen=True)
class PrecomputedFeatures:
    """EEGPT features of a recording's windows computed elsewhere (the stream's window agent),
    before quality control.

    ``analyze`` uses them when quality control leaves the windows unchanged; when it repairs
    a channel (or AutoReject a window) EEGPT's input changed and the features are computed
    again on the repaired windows, as the whole-file path does.
    """

    #: (n_windows, n_features), one row per window of the recording, in window order
    features: np.ndarray
    #: inference time per window where they were computed
    ms_per_window: float


@dataclass
class AnalysisResult:
    """The answer of one analysis; ``to_dict()`` is what crosses Kafka and lands in storage."""

    recording_id: str
    analysis_type: str
    started_at: datetime
    recording: dict[str, Any]
    stages: dict[str, StageResult]
    triage_priority: str
    models: dict[str, Any]
    duration_s: float = 0.0
    #: the rule that chose the triage (abnormality.triage_decision)
    triage_reason: str = ""
    # Kept for plots and callers in the same process; not serialised.
    window_scores: np.ndarray | None = field(default=None, repr=False)
    windows: WindowBatch | None = field(default=None, repr=False)

    @property
    def is_abnormal(self) -> bool | None:
        stage = self.stages["abnormality_detection"]
        return None if stage.result is None else stage.result.get("is_abnormal")

    def to_dict(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "analysis_type": self.analysis_type,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "recording": self.recording,
            "triage_priority": self.triage_priority,
            "triage_reason": self.triage_reason,
            "models": self.models,
            "timings_s": {name: round(s.duration_s, 4) for name, s in self.stages.items()},
            **{name: stage.to_dict() for name, stage in self.stages.items()},
        }


def analyze(
    recording: Recording,
    analysis_type: AnalysisType = "screening",
    options: AnalysisOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    precomputed: PrecomputedFeatures | None = None,
) -> AnalysisResult:
    """Analyse one recording.

    Parameters
    ----------
    recording : Recording
        Scalp EEG with standard channel names, at its native rate (see ``processors.io``).
    analysis_type : {"quick", "screening", "comprehensive"}
        What to run; see the module docstring.
    options : AnalysisOptions | None
        Loaded models and tuning; defaults run without EEGPT.
    progress : callable | None
        Called as ``progress(stage_name, fraction_done)`` while the analysis runs.
    precomputed : PrecomputedFeatures | None
        EEGPT features already computed on the unrepaired windows (by the stream); used
        when quality control changes no window. ``options.feature_extractor`` still names
        the model (and computes again when a window was repaired).

    Returns
    -------
    AnalysisResult
        Every stage with its status, result, reason and timing, the triage priority and the
        versions of the models used.
    """
    if analysis_type not in ANALYSIS_TYPES:
        raise ValueError(f"analysis_type must be one of {ANALYSIS_TYPES}, got {analysis_type!r}")
    options = options or AnalysisOptions()
    report = progress or (lambda _stage, _fraction: None)
    started_at = datetime.now(UTC)
    t_start = time.perf_counter()
    stages: dict[str, StageResult] = {}
    comprehensive = analysis_type == "comprehensive"

    report("preprocessing", 0.0)
    # Windows are cut from the native-rate signal and conditioned one by one, exactly as the
    # stream's windower does; the continuous 256 Hz copy feeds the detectors that need context.
    windows = window_recording(
        recording, stride_s=options.window_stride_s, line_freq_hz=options.line_freq_hz
    )
    prepared = prepare_recording(recording, line_freq_hz=options.line_freq_hz)
    # One microvolt copy of the continuous signal serves bad-channel detection and events.
    prepared_uv = prepared.raw.get_data() * 1e6

    report("quality_report", 0.05)
    use_autoreject = comprehensive if options.use_autoreject is None else options.use_autoreject
    qc_stage, qc = run_quality(windows, prepared_uv, use_autoreject=use_autoreject)
    stages["quality_report"] = qc_stage
    repaired = qc.repaired if qc is not None else windows

    report("features", 0.15)
    if analysis_type == "quick":
        stages["features"] = StageResult("skipped", reason="not part of the quick analysis")
        features = None
    else:
        reusable = (
            precomputed
            if precomputed is not None and _unchanged_by_quality(windows, repaired)
            else None
        )
        stages["features"], features = run_features(
            repaired,
            options,
            progress=lambda f: report("features", 0.15 + 0.6 * f),
            precomputed=reusable,
        )

    sleep_mask = None
    if comprehensive and not options.sleep_analysis:
        stages["sleep_analysis"] = StageResult(
            "skipped", reason=TURNED_OFF.format("sleep_analysis")
        )
    elif comprehensive:  # YASA first: its hypnogram says which windows sleep (not slowing)
        report("sleep_analysis", 0.7)
        # YASA filters and resamples itself and asks for unfiltered input.
        stages["sleep_analysis"] = run_sleep(recording)
        sleep_mask = _sleep_mask(stages["sleep_analysis"], repaired)

    report("abnormality_detection", 0.75)
    no_signal = qc is not None and qc.no_signal
    screen = None if no_signal else _screen(prepared_uv, prepared)
    abn_stage, abn, window_scores = run_abnormality(
        repaired,
        features,
        options.probe,
        quality_weights=_quality_weights(qc),
        discharge_screen=screen,
        sleep_mask=sleep_mask,
    )
    if no_signal:  # a technical problem, not a verdict
        abn_stage = StageResult("skipped", reason=quality.NO_SIGNAL_REASON)
    stages["abnormality_detection"] = abn_stage

    report("event_detection", 0.8)
    stages["event_detection"] = (
        _run_events_stage(analysis_type, prepared_uv, prepared, abn_stage, abn)
        if options.event_detection
        else StageResult("skipped", reason=TURNED_OFF.format("event_detection"))
    )

    decision = _decide_triage(abn, stages["event_detection"].result, qc, screen)
    triage = decision.priority
    if abn_stage.result is not None:
        abn_stage.result["triage_priority"] = triage
        abn_stage.result["triage_reason"] = decision.reason

    report("sleep_analysis", 0.9)
    if not comprehensive:
        stages["sleep_analysis"] = StageResult(
            "skipped",
            reason=f"sleep staging runs in the comprehensive analysis, not {analysis_type}",
        )

    report("done", 1.0)
    return AnalysisResult(
        recording_id=recording.recording_id,
        analysis_type=analysis_type,
        started_at=started_at,
        recording=_describe_recording(recording),
        stages=stages,
        triage_priority=triage,
        triage_reason=decision.reason,
        models=_models_used(options, stages),
        duration_s=time.perf_counter() - t_start,
        window_scores=window_scores,
        windows=repaired,
    )


def run_quality(
    windows: WindowBatch,
    continuous_uv: np.ndarray | None = None,
    *,
    use_autoreject: bool = False,
) -> tuple[StageResult, quality.QualityResult | None]:
    """Quality control; always ``completed``, degraded to 'unknown quality' if it breaks.

    ``continuous_uv`` (channels, samples, microvolts) is the continuous 256 Hz signal the
    windows were cut from, when there is one: bad channels are then found on it (see
    :func:`processors.quality.assess_quality`).
    """
    t0 = time.perf_counter()
    try:
        qc = quality.assess_quality(
            windows, continuous_uv=continuous_uv, use_autoreject=use_autoreject
        )
    except Exception as exc:  # QC must complete: report that quality is unknown.
        degraded = {
            "bad_channels": [],
            "signal_quality_score": 0.0,
            "is_acceptable": False,
            "artifact_window_percent": None,
            "n_windows": windows.n_windows,
            "degraded": True,
        }
        return (
            StageResult(
                "completed",
                result=degraded,
                error=f"{type(exc).__name__}: {exc}",
                reason="quality control failed; quality unknown",
                duration_s=time.perf_counter() - t0,
            ),
            None,
        )
    return StageResult("completed", result=qc.to_dict(), duration_s=time.perf_counter() - t0), qc


def run_features(
    windows: WindowBatch,
    options: AnalysisOptions,
    *,
    progress: Callable[[float], None] | None = None,
    precomputed: PrecomputedFeatures | None = None,
) -> tuple[StageResult, np.ndarray | None]:
    """EEGPT features of every window, in chunks so a long file shows progress, or the
    ``precomputed`` ones of the same windows."""
    extractor = options.feature_extractor
    if extractor is None:
        return StageResult("skipped", reason=options.feature_unavailable_reason), None
    if precomputed is not None:
        if precomputed.features.shape != (windows.n_windows, extractor.n_features):
            raise ValueError(
                f"precomputed features have shape {precomputed.features.shape}, expected "
                f"({windows.n_windows}, {extractor.n_features}): one row per window"
            )
        summary = _features_summary(extractor, precomputed.features, precomputed.ms_per_window)
        elapsed = precomputed.ms_per_window * windows.n_windows / 1000.0
        return StageResult("completed", result=summary, duration_s=elapsed), precomputed.features
    t0 = time.perf_counter()
    try:
        chunks = []
        step = max(1, options.feature_batch_windows)
        for start in range(0, windows.n_windows, step):
            chunks.append(extractor.extract(windows.select(slice(start, start + step))))
            if progress is not None:
                progress(min(1.0, (start + step) / windows.n_windows))
        features = np.concatenate(chunks, axis=0)
    except Exception as exc:
        return (
            StageResult(
                "failed", error=f"{type(exc).__name__}: {exc}", duration_s=time.perf_counter() - t0
            ),
            None,
        )
    elapsed = time.perf_counter() - t0
    summary = _features_summary(extractor, features, 1000 * elapsed / max(1, features.shape[0]))
    return StageResult("completed", result=summary, duration_s=elapsed), features


def _features_summary(extractor: Any, features: np.ndarray, ms_per_window: float) -> dict:
    return {
        "n_windows": int(features.shape[0]),
        "n_features": int(features.shape[1]),
        "weights_id": extractor.weights_id,
        "model_version": extractor.model_version,
        "precision": extractor.precision,
        "channels_used": list(extractor.channels_used),
        "channels_dropped": list(extractor.channels_dropped),
        "ms_per_window": round(ms_per_window, 2),
    }


def _unchanged_by_quality(windows: WindowBatch, repaired: WindowBatch) -> bool:
    """Quality control repaired nothing: EEGPT would see the same input."""
    return repaired is windows or np.array_equal(repaired.data_uv, windows.data_uv)


def run_abnormality(
    windows: WindowBatch,
    features: np.ndarray | None,
    probe: Any | None,
    *,
    quality_weights: np.ndarray | None = None,
    discharge_screen: DischargeScreen | None = None,
    sleep_mask: np.ndarray | None = None,
) -> tuple[StageResult, abnormality.AbnormalityResult, np.ndarray | None]:
    """Per-window abnormality scores aggregated to a verdict; conservative on failure.

    The verdict names its evidence (``evidence``): the qEEG findings or the probe, and the
    discharge screen when one is given (a periodic pattern or repeated discharges make the
    record abnormal, see :func:`processors.abnormality.add_discharge_screen`). Sleep is not
    slowing: the qEEG scorer leaves out the slowing of sleep windows (``sleep_mask``, from
    YASA's hypnogram, or its own cheap indicator).
    """
    t0 = time.perf_counter()
    scorer = (
        abnormality.SCORER_PROBE
        if probe is not None and features is not None
        else abnormality.SCORER_QEEG
    )
    try:
        if scorer == abnormality.SCORER_PROBE:
            scores = abnormality.score_windows_probe(features, probe)
            evidence = ["probe"]
        else:
            mask = {} if sleep_mask is None else {"sleep_mask": sleep_mask}
            scores = abnormality.score_windows_qeeg(windows, **mask)
            evidence = None
        result = abnormality.aggregate_abnormality(
            scores, scorer=scorer, quality_weights=quality_weights
        )
        if evidence is None:  # name the findings and the sleep (qEEG is cheap: computed again)
            assessment = abnormality.qeeg_assessment(windows, sleep_mask=sleep_mask)
            result.sleep_window_fraction = float(assessment.sleep.mean())
            if result.is_abnormal:
                evidence = abnormality.qeeg_evidence(assessment.findings, scores)
        if result.is_abnormal:
            result.evidence = evidence or []
        result = abnormality.add_discharge_screen(result, discharge_screen)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        result = abnormality.conservative_result(error, scorer=scorer)
        return (
            StageResult(
                "failed",
                result=result.to_dict() | {"fallback_result": _fallback_of(result)},
                error=error,
                duration_s=time.perf_counter() - t0,
            ),
            result,
            None,
        )
    stage = StageResult(
        "completed",
        result=result.to_dict() | {"fallback_result": None},
        duration_s=time.perf_counter() - t0,
    )
    return stage, result, scores


def _fallback_of(result: abnormality.AbnormalityResult) -> dict[str, Any]:
    """The conservative answer a failed abnormality stage gives, as its own object."""
    return {
        "is_abnormal": result.is_abnormal,
        "confidence": round(float(result.confidence), 4),
        "triage_priority": result.triage_priority,
    }


def run_sleep(recording: Recording) -> StageResult:
    """YASA sleep staging, or ``skipped`` with the reason (too short, no suitable channel)."""
    t0 = time.perf_counter()
    try:
        sleep = analyze_sleep(
            recording.raw.get_data() * 1e6, recording.sfreq_hz, recording.ch_names
        )
    except Exception as exc:
        return StageResult(
            "failed", error=f"{type(exc).__name__}: {exc}", duration_s=time.perf_counter() - t0
        )
    elapsed = time.perf_counter() - t0
    if sleep.status != "completed":
        return StageResult("skipped", reason=sleep.reason, duration_s=elapsed)
    return StageResult("completed", result=sleep.to_dict(), duration_s=elapsed)


def _run_events_stage(
    analysis_type: str,
    prepared_uv: np.ndarray,
    prepared: Recording,
    abn_stage: StageResult,
    abn: abnormality.AbnormalityResult,
) -> StageResult:
    if analysis_type == "quick":
        return StageResult("skipped", reason="not part of the quick analysis")
    if abn_stage.status == "failed":
        return StageResult("skipped", reason="upstream_failure")
    if abn_stage.status == "skipped":  # no signal: nothing to look for
        return StageResult("skipped", reason=abn_stage.reason)
    if not abn.is_abnormal:
        return StageResult("skipped", reason="recording_normal: events run only when abnormal")
    t0 = time.perf_counter()
    try:
        events = detect_events(prepared_uv, prepared.sfreq_hz, prepared.ch_names)
    except Exception as exc:
        return StageResult(
            "failed", error=f"{type(exc).__name__}: {exc}", duration_s=time.perf_counter() - t0
        )
    return StageResult("completed", result=events.to_dict(), duration_s=time.perf_counter() - t0)


def _sleep_mask(sleep: StageResult, windows: WindowBatch) -> np.ndarray | None:
    """Windows that YASA staged asleep, or None (the cheap indicator decides) without it."""
    if sleep.status != "completed" or not sleep.result:
        return None
    return sleep_windows_from_hypnogram(
        windows, sleep.result.get("hypnogram", []), float(sleep.result.get("epoch_s", 30.0))
    )


def _screen(prepared_uv: np.ndarray, prepared: Recording) -> DischargeScreen | None:
    """The discharge screen of the continuous 256 Hz signal; None (verdict from the windows
    alone) if it cannot run."""
    try:
        return screen_discharges(prepared_uv, prepared.sfreq_hz, prepared.ch_names)
    except Exception:  # the screen adds evidence; its failure must not sink the verdict
        return None


def _decide_triage(
    abn: abnormality.AbnormalityResult,
    events_result: dict[str, Any] | None,
    qc: quality.QualityResult | None,
    screen: DischargeScreen | None,
) -> abnormality.TriageDecision:
    # The whole event report: the triage reads the discharge rate from its summaries.
    acceptable = bool(qc.is_acceptable) if qc is not None else False
    return abnormality.triage_decision(
        abn,
        events_result or None,
        quality_acceptable=acceptable,
        analysable_s=screen.analysable_duration_s if screen is not None else None,
        no_signal=qc is not None and qc.no_signal,
    )


def _quality_weights(qc: quality.QualityResult | None) -> np.ndarray | None:
    """Artifact windows count less in the verdict (but still count)."""
    if qc is None:
        return None
    flags = np.asarray(qc.window_flags, dtype=bool)
    return np.where(flags, 0.25, 1.0)


def _describe_recording(recording: Recording) -> dict[str, Any]:
    start = recording.start_time
    return {
        "recording_id": recording.recording_id,
        "source_format": recording.file_format,
        "duration_s": round(recording.duration_s, 3),
        "sfreq_hz": recording.sfreq_hz,
        "n_channels": len(recording.ch_names),
        "ch_names": recording.ch_names,
        "set_aside_channels": list(recording.set_aside),
        "channel_layout": recording.channel_layout,
        "start_time": start.isoformat() if start is not None else None,
    }


def _models_used(options: AnalysisOptions, stages: dict[str, StageResult]) -> dict[str, Any]:
    # Versions from the package metadata: importing yasa costs seconds when no sleep ran.
    from importlib.metadata import version

    extractor = options.feature_extractor
    features_ran = stages["features"].status == "completed"
    abn = stages["abnormality_detection"].result or {}
    return {
        "eegpt": (
            {
                "weights_id": extractor.weights_id,
                "model_version": extractor.model_version,
                "precision": extractor.precision,
            }
            if extractor is not None and features_ran
            else None
        ),
        "abnormality_scorer": abn.get("scorer"),
        "probe": getattr(options.probe, "version", None) if options.probe is not None else None,
        "mne": version("mne"),
        "yasa": version("yasa"),
    }
