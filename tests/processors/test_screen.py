"""The screen sees discharges; rates need time; artifacts are not events; no signal is technical.

Issue 10: records with repeated or periodic discharges on a normal background were called
normal (the events stage never ran), short records were triaged urgent from a rate
extrapolated over seconds, discharges inside muscle bursts were reported as epileptiform, and
an all-zero recording came out urgent. Then the opposite: discharges beside a muscle burst
(their field on its neighbours, falling off towards it) were set aside with it.
"""

from __future__ import annotations

import numpy as np
import pytest

from processors.abnormality import aggregate_abnormality, decide_triage, triage_decision
from processors.analyze import analyze
from processors.events import detect_events, screen_discharges
from processors.io import recording_from_array
from processors.synthetic import InjectedEvent, generate_eeg

SFREQ = 256.0
#: irregular times (not a periodic train), 8 spikes in two minutes
SPIKE_ONSETS_S = (9.0, 21.5, 30.0, 47.3, 61.0, 74.8, 90.2, 108.5)


def _recording(eeg, rid: str):
    return recording_from_array(eeg.data_uv, eeg.sfreq_hz, eeg.ch_names, rid)


@pytest.fixture(scope="module")
def spiky():
    events = [InjectedEvent("spike", t, 0.05, amplitude_uv=120.0) for t in SPIKE_ONSETS_S]
    return generate_eeg(120.0, events=events, seed=41)


def test_repeated_spikes_on_a_normal_background_make_the_record_abnormal(spiky) -> None:
    clean = analyze(_recording(generate_eeg(120.0, seed=41), "clean"), "screening").to_dict()
    assert clean["abnormality_detection"]["is_abnormal"] is False
    assert clean["abnormality_detection"]["discharge_screen"]["n_discharges"] == 0
    assert clean["triage_priority"] == "routine"

    out = analyze(_recording(spiky, "spiky"), "screening").to_dict()
    verdict = out["abnormality_detection"]
    assert verdict["is_abnormal"] is True
    # the verdict says which evidence made it
    assert any(e.startswith("discharges:repeated") for e in verdict["evidence"])
    assert verdict["discharge_screen"]["n_discharges"] >= 6
    # the event stage then runs and locates them
    assert out["event_detection"]["status"] == "completed"
    found = [e for e in out["event_detection"]["events"] if e["type"] == "epileptiform"]
    hits = [t for t in SPIKE_ONSETS_S if any(abs(e["onset_s"] - t) < 0.05 for e in found)]
    assert len(hits) >= 6
    assert out["triage_priority"] in {"expedite", "urgent"}


def test_a_periodic_pattern_makes_the_screen_positive() -> None:
    eeg = generate_eeg(90.0, events=[InjectedEvent("lpd", 20.0, 40.0, rate_hz=1.0)], seed=42)
    screen = screen_discharges(eeg.data_uv, SFREQ, eeg.ch_names)
    assert screen.positive and screen.periodic_types == ["PLED"]
    assert "discharges:periodic (PLED)" in screen.findings()
    clean = generate_eeg(90.0, seed=42)
    assert not screen_discharges(clean.data_uv, SFREQ, clean.ch_names).positive


def test_a_rate_needs_a_minute_of_signal(spiky) -> None:
    # The first 25 s hold two spikes: a count, not "5 a minute".
    short = spiky.data_uv[:, : int(25 * SFREQ)]
    report = detect_events(short, SFREQ, spiky.ch_names)
    assert report.summaries["discharge_count"] == 2
    assert report.summaries["discharge_rate_per_min"] is None
    # Over the whole two minutes the rate exists.
    full = detect_events(spiky.data_uv, SFREQ, spiky.ch_names).summaries
    assert full["discharge_rate_per_min"] == pytest.approx(
        full["discharge_count"] / (full["analysable_duration_s"] / 60.0), abs=1e-2
    )
    # A confident background or discharges over 29 s are at most expedite; over 60 s urgent.
    abnormal = aggregate_abnormality(np.full(7, 0.95), scorer="x")
    assert decide_triage(abnormal, None, True, analysable_s=29.0) == "expedite"
    assert decide_triage(abnormal, None, True, analysable_s=60.0) == "urgent"
    spikes = [{"type": "epileptiform", "confidence": 0.9}] * 3
    normal = aggregate_abnormality(np.full(7, 0.1), scorer="x")
    assert decide_triage(normal, spikes, True, duration_s=6.0) == "expedite"  # not 30/min
    decision = triage_decision(normal, spikes, True, duration_s=6.0)
    assert "counts, no rates" in decision.reason


def test_a_six_second_record_with_one_spike_is_not_urgent() -> None:
    eeg = generate_eeg(6.0, events=[InjectedEvent("spike", 3.0, 0.05)], seed=43)
    out = analyze(_recording(eeg, "six-seconds"), "screening").to_dict()
    assert out["triage_priority"] != "urgent"


def test_a_flat_record_is_no_signal_for_the_technician_never_urgent() -> None:
    eeg = generate_eeg(60.0, seed=44)
    flat = recording_from_array(np.zeros_like(eeg.data_uv), SFREQ, eeg.ch_names, "flat")
    out = analyze(flat, "screening").to_dict()
    qc = out["quality_report"]
    assert qc["no_signal"] is True and qc["is_acceptable"] is False
    assert qc["acceptability_reason"].startswith("no signal")
    assert out["abnormality_detection"]["status"] == "skipped"
    assert "check the electrodes" in out["abnormality_detection"]["reason"]
    assert out["event_detection"]["status"] == "skipped"
    assert out["triage_priority"] == "expedite"
    assert "no signal" in out["triage_reason"]
    # A suppressed but living background is not "no signal".
    assert (
        analyze(_recording(eeg, "alive"), "quick").to_dict()["quality_report"]["no_signal"] is False
    )


def test_poor_quality_limits_the_verdict_to_a_technical_review() -> None:
    normal = aggregate_abnormality(np.full(30, 0.05), scorer="x")
    seizure = [{"type": "seizure", "confidence": 0.9}]
    decision = triage_decision(normal, seizure, quality_acceptable=False)
    assert decision.priority == "expedite"
    assert "signal quality" in decision.reason
    assert decide_triage(normal, seizure, quality_acceptable=True) == "urgent"


def test_transients_inside_muscle_bursts_are_not_epileptiform() -> None:
    # Muscle over the left temporal chain; transients at the same moments whose field reaches
    # beyond it (only the neighbours are above the muscle mask's threshold).
    muscle, field = ("F7", "T7"), ("F7", "T7", "F3", "C3")
    events = [InjectedEvent("muscle", t - 1.0, 2.0, channels=muscle, amplitude_uv=30.0)
              for t in (15.0, 40.0, 65.0)]  # fmt: skip
    events += [InjectedEvent("spike", t, 0.05, channels=field) for t in (15.0, 40.0, 65.0)]
    eeg = generate_eeg(80.0, events=events, seed=45)
    report = detect_events(eeg.data_uv, SFREQ, eeg.ch_names)
    muscle = [e for e in report.events if e.subtype == "muscle"]
    assert muscle, "the muscle bursts are seen as artifacts"
    in_muscle = [
        e
        for e in report.of_type("epileptiform")
        if any(m.onset_s - 0.25 <= e.details["apex_s"] <= m.offset_s + 0.25 for m in muscle)
    ]
    assert in_muscle == []
    assert report.summaries["discharges_in_artifacts"] == 3
    assert not screen_discharges(eeg.data_uv, SFREQ, eeg.ch_names).repeated


@pytest.mark.parametrize("seed", [45, 46])
def test_a_discharge_beside_a_muscle_burst_is_found_and_the_burst_raises_nothing(
    seed: int,
) -> None:
    """Muscle over the left temporal chain and, at the same moments, spikes on F3 and C3 only,
    its neighbours: the field falls off towards the burst (the muscle channels do not carry
    it), so it is a discharge beside the burst, found on time; the same record without the
    spikes raises no clinical event. (A transient the burst's channels carry as well stays
    an artifact: :func:`test_transients_inside_muscle_bursts_are_not_epileptiform`.)"""
    muscle, field, times_s = ("F7", "T7"), ("F3", "C3"), (15.0, 40.0, 65.0)
    bursts = [InjectedEvent("muscle", t - 1.0, 2.0, channels=muscle, amplitude_uv=30.0)
              for t in times_s]  # fmt: skip
    spikes = [InjectedEvent("spike", t, 0.05, channels=field) for t in times_s]

    background = generate_eeg(80.0, events=bursts, seed=seed)
    report = detect_events(background.data_uv, SFREQ, background.ch_names)
    assert len([e for e in report.events if e.subtype == "muscle"]) == len(times_s)
    assert report.of_type("epileptiform", "seizure", "PLED", "GPED") == []

    eeg = generate_eeg(80.0, events=bursts + spikes, seed=seed)
    report = detect_events(eeg.data_uv, SFREQ, eeg.ch_names)
    found = report.of_type("epileptiform")
    assert len(found) == len(times_s), [(e.onset_s, e.channels) for e in found]
    for e, t in zip(found, times_s, strict=True):
        assert abs(e.onset_s - t) <= 0.05
        assert set(field) <= set(e.channels) and not set(muscle) & set(e.channels)
    assert report.summaries["discharges_in_artifacts"] == 0
    assert screen_discharges(eeg.data_uv, SFREQ, eeg.ch_names).repeated


def test_deep_burst_suppression_is_a_signal_and_stays_urgent() -> None:
    # A background suppressed to about 1 uV with bursts of 100 uV: quality control must not
    # take the quiet head for flat electrodes, nor the record for "no signal".
    eeg = generate_eeg(150.0, blinks=False, seed=46)
    rng = np.random.default_rng(46)
    gain = np.full(eeg.data_uv.shape[1], 0.04)
    bursts = np.zeros_like(eeg.data_uv)
    for onset_s in np.arange(8.0, 145.0, 9.0):
        a, b = int(onset_s * SFREQ), int((onset_s + 1.5) * SFREQ)
        gain[a:b] = 1.0
        bursts[:, a:b] += rng.normal(0.0, 40.0, (1, b - a)) * np.hanning(b - a)
    data = eeg.data_uv * gain + bursts
    out = analyze(recording_from_array(data, SFREQ, eeg.ch_names, "deep-bs"), "screening")
    result = out.to_dict()
    assert result["quality_report"]["no_signal"] is False
    assert result["abnormality_detection"]["is_abnormal"] is True
    types = {e["type"] for e in result["event_detection"]["events"]}
    assert "burst_suppression" in types
    assert result["triage_priority"] == "urgent"


def test_a_low_amplitude_fast_seizure_makes_the_record_abnormal() -> None:
    """A seizure starting fast and small does not slow the background: the screen's seizure
    look makes the record abnormal, and the event stage then locates it."""
    from evaluation.corpus import seizure_fast

    record = seizure_fast(306, 180.0)  # a tuning seed (evaluation seeds start at 50 000)
    truth = record.truth[0]
    rec = recording_from_array(record.data_uv, SFREQ, record.ch_names, "fast")
    out = analyze(rec, "screening").to_dict()
    verdict = out["abnormality_detection"]
    assert verdict["is_abnormal"] is True
    assert "seizure (1)" in verdict["evidence"]
    seizures = [e for e in out["event_detection"]["events"] if e["type"] == "seizure"]
    assert seizures and abs(seizures[0]["onset_s"] - truth.onset_s) < 5.0
    assert out["triage_priority"] == "urgent"
    clean = screen_discharges(*_background(306))
    assert not clean.seizure and not clean.positive


def _background(seed: int) -> tuple[np.ndarray, float, list[str]]:
    eeg = generate_eeg(180.0, muscle=True, seed=seed)
    return eeg.data_uv, SFREQ, eeg.ch_names


def test_discharges_faster_than_2_5_hz_for_10_s_are_a_seizure() -> None:
    """Generalized 3 Hz spike-and-wave that slows towards its end (ACNS 2021: discharges
    averaging more than 2.5 Hz for 10 s are a seizure): one seizure, never a GPD."""
    from evaluation.corpus import seizure_spike_wave

    record = seizure_spike_wave(320, 180.0)  # a tuning seed
    truth = record.truth[0]
    report = detect_events(record.data_uv, SFREQ, record.ch_names)
    seizures = report.of_type("seizure")
    assert len(seizures) == 1
    assert abs(seizures[0].onset_s - truth.onset_s) < 2.0
    assert seizures[0].offset_s > truth.offset_s - 3.0
    assert not [e for e in report.of_type("PLED", "GPED") if e.onset_s < truth.offset_s + 2]


def test_periodic_discharges_under_2_5_hz_are_not_a_seizure_of_their_harmonic() -> None:
    """GPDs at 1.8 Hz put their largest spectral line at 3.5 Hz: still a GPD, never a
    seizure (the seizure detector reads the repetition rate, not the harmonic)."""
    from evaluation.corpus import gpd

    record = gpd(307, 180.0)  # a tuning seed, 1.77 Hz
    truth = record.truth[0]
    report = detect_events(record.data_uv, SFREQ, record.ch_names)
    assert report.of_type("seizure") == []
    trains = report.of_type("GPED")
    assert trains and all(abs(e.details["frequency_hz"] - 1.77) < 0.15 for e in trains)
    assert min(abs(e.onset_s - truth.onset_s) for e in trains) < 1.0
