"""Abnormality scoring, aggregation and triage."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from processors.abnormality import (
    SCORER_PROBE,
    SCORER_QEEG,
    AbnormalityResult,
    WindowScoreError,
    aggregate_abnormality,
    conservative_result,
    decide_triage,
    qeeg_assessment,
    qeeg_assessments,
    score_windows_probe,
    score_windows_qeeg,
)
from processors.errors import ModelUnavailable, NonFiniteSamples
from processors.preprocessing import condition_windows, cut_windows
from processors.synthetic import STANDARD_1020_19, generate_eeg
from processors.types import WindowBatch

SFREQ_HZ = 256.0
LEFT = ("Fp1", "F7", "F3", "T7", "C3", "P7", "P3", "O1")


def windows(data_uv: np.ndarray, ch_names: list[str]) -> WindowBatch:
    native = cut_windows(data_uv, SFREQ_HZ, ch_names, window_s=4.0, stride_s=4.0)
    return condition_windows(native, n_samples_out=1024)


def slowed(data_uv: np.ndarray, seed: int, rms_uv: float = 12.0) -> np.ndarray:
    """The background damped a little, with diffuse 1-6 Hz polymorphic activity added."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(seed + 1000)
    n_ch, n = data_uv.shape
    sos = butter(3, [1.0, 6.0], btype="band", fs=SFREQ_HZ, output="sos")
    s = sosfiltfilt(sos, rng.standard_normal((1, n)) + 0.7 * rng.standard_normal((n_ch, n)))
    return 0.8 * data_uv + s / s.std(axis=-1, keepdims=True) * rms_uv


@pytest.fixture(scope="module")
def recordings() -> dict[int, tuple[np.ndarray, list[str]]]:
    out = {}
    for seed in (0, 1, 2, 3):
        g = generate_eeg(48.0, seed=seed)
        out[seed] = (g.data_uv, g.ch_names)
    return out


# --- the qEEG baseline -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_qeeg_baseline_normal_slowed_suppressed(
    recordings: dict[int, tuple[np.ndarray, list[str]]], seed: int
) -> None:
    data, ch = recordings[seed]
    normal = score_windows_qeeg(windows(data, ch))
    slow = score_windows_qeeg(windows(slowed(data, seed), ch))
    supp = score_windows_qeeg(windows(0.15 * data, ch))
    assert normal.shape == slow.shape == supp.shape == (12,)
    assert ((normal >= 0) & (normal <= 1)).all()
    # Per window: every normal window is clearly below every abnormal one.
    assert normal.max() < 0.4
    assert np.median(slow) > 0.7
    assert supp.min() > 0.9
    assert normal.max() < slow.min() or np.mean(slow > normal.max()) > 0.9

    n_res = aggregate_abnormality(normal, scorer=SCORER_QEEG)
    s_res = aggregate_abnormality(slow, scorer=SCORER_QEEG)
    x_res = aggregate_abnormality(supp, scorer=SCORER_QEEG)
    assert not n_res.is_abnormal and n_res.triage_priority == "routine"
    assert n_res.confidence > 0.5 and n_res.fraction_abnormal_windows == 0.0
    assert s_res.is_abnormal and s_res.triage_priority == "expedite"
    assert s_res.fraction_abnormal_windows > 0.8
    # Suppression of the whole record is urgent on its own (P(abnormal) >= 0.9).
    assert x_res.is_abnormal and x_res.abnormal_probability > 0.9
    assert x_res.triage_priority == "urgent"


def test_qeeg_baseline_one_sided_attenuation(
    recordings: dict[int, tuple[np.ndarray, list[str]]],
) -> None:
    data, ch = recordings[0]
    att = data.copy()
    att[[ch.index(c) for c in LEFT]] *= 0.4
    scores = score_windows_qeeg(windows(att, ch))
    res = aggregate_abnormality(scores, scorer=SCORER_QEEG)
    assert res.is_abnormal and res.fraction_abnormal_windows > 0.8
    # One attenuated electrode is not a hemispheric asymmetry.
    one = data.copy()
    one[ch.index("C3")] *= 0.3
    assert not aggregate_abnormality(score_windows_qeeg(windows(one, ch)), scorer="q").is_abnormal


def test_qeeg_baseline_localises_an_abnormal_stretch(
    recordings: dict[int, tuple[np.ndarray, list[str]]],
) -> None:
    """Slowing in the middle third only: the abnormal windows are those."""
    data, ch = recordings[1]
    mixed = data.copy()
    n = data.shape[1]
    mid = slice(n // 3, 2 * n // 3)  # 16-32 s: windows 4..7
    mixed[:, mid] = slowed(data, 1)[:, mid]
    scores = score_windows_qeeg(windows(mixed, ch))
    flagged = set(np.flatnonzero(scores >= 0.5))
    assert {4, 5, 6, 7} <= flagged
    assert flagged <= {3, 4, 5, 6, 7, 8}


# --- the probe adapter -----------------------------------------------------------------------


def _features(n: int, shift: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, 16)) + shift


def test_probe_adapter_with_a_scikit_learn_classifier() -> None:
    x = np.vstack([_features(60, 0.0, 1), _features(60, 1.0, 2)])
    y = np.r_[np.zeros(60), np.ones(60)]
    clf = LogisticRegression().fit(x, y)
    normal = score_windows_probe(_features(20, 0.0, 3), clf)
    abnormal = score_windows_probe(_features(20, 1.0, 4), clf)
    assert normal.shape == (20,) and ((normal >= 0) & (normal <= 1)).all()
    assert abnormal.mean() > 0.8 > 0.2 > normal.mean()
    np.testing.assert_allclose(abnormal, clf.predict_proba(_features(20, 1.0, 4))[:, 1])
    res = aggregate_abnormality(abnormal, scorer=SCORER_PROBE)
    assert res.is_abnormal and res.scorer == "eegpt-probe"


def test_probe_adapter_with_the_project_probe() -> None:
    from processors.probe import train_probe

    x = np.vstack([_features(60, 0.0, 1), _features(60, 1.0, 2)])
    y = np.r_[np.zeros(60), np.ones(60)].astype(int)
    probe = train_probe(x, y, weights_id="test-weights")
    scores = score_windows_probe(_features(20, 1.0, 4), probe)
    assert scores.shape == (20,) and scores.mean() > 0.7
    with pytest.raises(ModelUnavailable):
        score_windows_probe(_features(5, 0.0, 5)[:, :8], probe)


@dataclass
class _StringLabelProbe:
    """Answers one column per class, labelled by name, abnormal first."""

    classes_: tuple[str, ...] = ("abnormal", "normal")

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-features[:, 0]))
        return np.stack([p, 1.0 - p], axis=1)


def test_probe_adapter_reads_the_abnormal_column_by_label() -> None:
    x = np.array([[-3.0, 0.0], [3.0, 0.0]])
    scores = score_windows_probe(x, _StringLabelProbe())
    assert scores[0] < 0.1 and scores[1] > 0.9


class _BadProbe:
    def __init__(self, answer: np.ndarray) -> None:
        self.answer = answer

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.answer


def test_probe_adapter_errors() -> None:
    x = np.zeros((3, 4))
    with pytest.raises(ModelUnavailable, match="no predict_proba"):
        score_windows_probe(x, object())
    with pytest.raises(ModelUnavailable, match="one probability per window"):
        score_windows_probe(x, _BadProbe(np.array([0.1, 0.2])))
    with pytest.raises(ModelUnavailable, match=r"\[0, 1\]"):
        score_windows_probe(x, _BadProbe(np.array([0.1, 2.0, -1.0])))
    with pytest.raises(ModelUnavailable, match=r"\(n_windows, n_features\)"):
        score_windows_probe(np.zeros(4), _BadProbe(np.zeros(4)))
    bad = x.copy()
    bad[1, 2] = np.inf
    with pytest.raises(NonFiniteSamples):
        score_windows_probe(bad, _BadProbe(np.zeros(3)))
    six = np.r_[np.zeros((5, 6)), np.ones((5, 6))]
    clf = LogisticRegression().fit(six, np.r_[[0] * 5, [1] * 5])
    with pytest.raises(ModelUnavailable, match="trained on 6 features"):
        score_windows_probe(x, clf)


# --- aggregation -----------------------------------------------------------------------------


def test_a_sustained_focal_stretch_makes_a_long_normal_record_abnormal() -> None:
    scores = np.full(300, 0.05)  # 20 minutes of normal windows
    scores[100:108] = 0.8  # 32 s of abnormal activity
    res = aggregate_abnormality(scores, scorer="x")
    assert res.is_abnormal and res.abnormal_probability == pytest.approx(0.8)
    # One isolated high window (an artifact scored abnormal) does not carry the record.
    single = np.full(300, 0.05)
    single[100] = 0.95
    assert not aggregate_abnormality(single, scorer="x").is_abnormal


def test_aggregation_probability_confidence_and_weights() -> None:
    res = aggregate_abnormality(np.full(30, 0.5), scorer="x")
    assert res.confidence == pytest.approx(0.0)  # on the boundary: no confidence
    many = aggregate_abnormality(np.full(100, 0.05), scorer="x")
    few = aggregate_abnormality(np.full(1, 0.05), scorer="x")
    assert many.confidence > 0.85 > few.confidence  # one window is never fully convincing
    assert not many.is_abnormal and many.abnormal_probability == pytest.approx(0.05)
    scores = np.array([0.9, 0.9, 0.1, 0.1])
    # Mean 0.5, but the best 3 consecutive windows average (0.9 + 0.9 + 0.1) / 3.
    assert aggregate_abnormality(scores, scorer="x").abnormal_probability == pytest.approx(1.9 / 3)
    # Artifact windows weighted out: only the clean, normal ones count.
    weighted = aggregate_abnormality(scores, scorer="x", quality_weights=np.array([0, 0, 1, 1]))
    assert weighted.abnormal_probability == pytest.approx(0.1)
    assert weighted.fraction_abnormal_windows == 0.0
    assert weighted.n_windows == 4 and weighted.per_window.shape == (4,)
    d = weighted.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["scorer"] == "x" and d["per_window"] == [0.9, 0.9, 0.1, 0.1]


def test_aggregation_rejects_bad_input() -> None:
    with pytest.raises(WindowScoreError, match="no window scores"):
        aggregate_abnormality(np.array([]), scorer="x")
    with pytest.raises(NonFiniteSamples):
        aggregate_abnormality(np.array([0.1, np.nan]), scorer="x")
    with pytest.raises(WindowScoreError, match=r"\[0, 1\]"):
        aggregate_abnormality(np.array([0.1, 1.5]), scorer="x")
    with pytest.raises(WindowScoreError, match="one weight per window"):
        aggregate_abnormality(np.array([0.1, 0.2]), scorer="x", quality_weights=np.ones(3))
    # as documented: a negative weight is a bad weight, a NaN weight a non-finite one
    with pytest.raises(WindowScoreError, match="non-negative"):
        aggregate_abnormality(np.array([0.1, 0.2]), scorer="x", quality_weights=np.array([1, -1]))
    with pytest.raises(NonFiniteSamples, match="quality weights"):
        aggregate_abnormality(
            np.array([0.1, 0.2]), scorer="x", quality_weights=np.array([1.0, np.inf])
        )


# --- triage ----------------------------------------------------------------------------------


@dataclass
class _Event:
    type: str
    confidence: float = 0.9


def _result(p: float, n: int = 50) -> AbnormalityResult:
    return aggregate_abnormality(np.full(n, p), scorer="x")


def test_triage_routine_only_when_normal_confident_and_clean() -> None:
    normal = _result(0.05)
    assert decide_triage(normal, None, quality_acceptable=True) == "routine"
    assert decide_triage(normal, [], quality_acceptable=True) == "routine"
    assert decide_triage(normal, [_Event("artifact")], quality_acceptable=True) == "routine"
    # Poor quality, an uncertain verdict, or a discharge: expedite.
    assert decide_triage(normal, None, quality_acceptable=False) == "expedite"
    assert decide_triage(_result(0.4), None, quality_acceptable=True) == "expedite"
    assert decide_triage(normal, [_Event("epileptiform")], quality_acceptable=True) == "expedite"


def test_triage_abnormal_is_expedite_or_urgent() -> None:
    assert decide_triage(_result(0.75), None, quality_acceptable=True) == "expedite"
    assert decide_triage(_result(0.95), None, quality_acceptable=True) == "urgent"


@pytest.mark.parametrize("kind", ["seizure", "burst_suppression", "PLED", "GPED"])
def test_triage_urgent_events(kind: str) -> None:
    normal = _result(0.05)
    assert decide_triage(normal, [_Event(kind)], quality_acceptable=True) == "urgent"
    # Mapping events count too; an unconfident detection does not raise the alarm alone.
    assert decide_triage(normal, [{"type": kind, "confidence": 0.8}], True) == "urgent"
    assert decide_triage(normal, [_Event(kind, confidence=0.2)], True) == "routine"


def test_triage_frequent_discharges_are_urgent() -> None:
    abnormal = _result(0.75)
    spikes = [_Event("epileptiform")] * 12
    assert decide_triage(abnormal, spikes, True, duration_s=600.0) == "expedite"  # 1.2/min
    assert decide_triage(abnormal, spikes, True, duration_s=60.0) == "urgent"  # 12/min
    assert decide_triage(abnormal, None, True, discharges_per_min=8.0) == "urgent"

    class Report:  # an EventReport-like object with .events
        events = spikes

    assert decide_triage(abnormal, Report(), True, duration_s=60.0) == "urgent"
    # The EventReport's own summary rate is used, as an object or as its dict.
    Report.summaries = {"discharge_rate_per_min": 7.5}
    assert decide_triage(abnormal, Report(), True) == "urgent"
    as_dict = {"events": [{"type": "epileptiform", "confidence": 0.9}], "summaries": {}}
    assert decide_triage(abnormal, as_dict, True) == "expedite"
    as_dict["summaries"] = {"discharge_rate_per_min": 6.0}
    assert decide_triage(abnormal, as_dict, True) == "urgent"
    assert decide_triage(_result(0.05), {"events": [], "summaries": {}}, True) == "routine"


def test_conservative_result() -> None:
    res = conservative_result("EEGPT checkpoint missing: set BRRR_EEGPT_CHECKPOINT", "eegpt-probe")
    assert res.is_abnormal is True
    assert res.confidence < 0.5
    assert res.triage_priority == "expedite"
    assert res.error == "EEGPT checkpoint missing: set BRRR_EEGPT_CHECKPOINT"
    assert res.scorer == "eegpt-probe" and res.n_windows == 0
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["error"] and d["triage_priority"] == "expedite" and d["is_abnormal"] is True
    # Triage of a failed scoring never drops to routine, even with clean quality.
    assert decide_triage(res, None, quality_acceptable=True) == "expedite"
    assert decide_triage(res, [_Event("seizure")], quality_acceptable=True) == "urgent"


def test_qeeg_assessments_of_several_recordings_equal_each_alone() -> None:
    # A live worker scores one window of each of many streams in one call: each stream's
    # scores, findings and sleep windows are those it gets alone.
    ch = list(STANDARD_1020_19)
    normal = windows(generate_eeg(60.0, seed=31).data_uv, ch)
    slow = windows(slowed(generate_eeg(60.0, seed=32).data_uv, 32), ch)
    asleep = windows(generate_eeg(120.0, seed=33, sleep_stages=["N2"] * 4).data_uv, ch)
    batches = [normal.select(slice(3, 4)), slow, asleep, normal]
    together = qeeg_assessments(batches)
    for batch, joint in zip(batches, together, strict=True):
        alone = qeeg_assessment(batch)
        np.testing.assert_allclose(joint.scores, alone.scores, rtol=1e-6)
        np.testing.assert_array_equal(joint.sleep, alone.sleep)
        for name, values in alone.findings.items():
            np.testing.assert_allclose(joint.findings[name], values, rtol=1e-6)
    assert together[1].scores.mean() > 0.5 > together[3].scores.mean()
    assert together[2].sleep.all() and not together[3].sleep.any()
    assert qeeg_assessments([]) == []
