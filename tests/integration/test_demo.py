"""The main job end to end: EDF -> analysis -> Kafka -> sink -> PostgreSQL, on the real stack."""

from __future__ import annotations

import pytest

from streams.demo import run_demo

pytestmark = pytest.mark.integration


def test_demo_finds_the_injected_events_and_stores_them(stack, tmp_path, capsys):
    summary = {row["file"]: row for row in run_demo(stack, tmp_path)}
    # The closing psql hint names the database without its password.
    printed = capsys.readouterr().out
    assert "psql postgresql://" in printed and ":***@" in printed
    assert stack.postgres_url not in printed

    normal = summary["demo_normal.edf"]
    assert normal["result"]["is_abnormal"] is False
    assert normal["result"]["triage_priority"] == "routine"
    assert not [d for d in normal["detections"] if d["event_type"] != "artifact"]

    seizure = summary["demo_seizure.edf"]
    assert seizure["result"]["is_abnormal"] is True
    assert seizure["result"]["triage_priority"] == "urgent"
    found = {d["event_type"]: d for d in seizure["detections"]}
    assert abs(found["seizure"]["onset_s"] - 70.0) <= 3.0
    assert abs(found["PLED"]["onset_s"] - 130.0) <= 3.0
    spikes = sorted(
        d["onset_s"] for d in seizure["detections"] if d["event_type"] == "epileptiform"
    )
    assert [round(s) for s in spikes] == [12, 21, 30, 39]
    # Every detection the analysis published is in the database exactly once.
    assert seizure["result"]["n_events"] == len(seizure["detections"])
