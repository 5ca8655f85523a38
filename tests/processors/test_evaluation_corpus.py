"""The evaluation corpus builds its records and the clinical evaluation scores them."""

from __future__ import annotations

import numpy as np

from evaluation import EVALUATION_SEED_BASE
from evaluation.clinical import score_record
from evaluation.corpus import CATEGORIES, SPIKE_MORPHOLOGIES, corpus_seed, make_record
from processors.analyze import analyze
from processors.io import recording_from_array


def test_corpus_seeds_are_never_tuning_seeds() -> None:
    seeds = [corpus_seed(c, k) for c in CATEGORIES for k in range(20)]
    assert min(seeds) >= EVALUATION_SEED_BASE and len(set(seeds)) == len(seeds)


def test_a_spike_record_carries_every_morphology_and_is_scored() -> None:
    record = make_record("spikes", 0, 120.0)
    assert {t.subtype for t in record.truth} == set(SPIKE_MORPHOLOGIES)
    assert record.data_uv.shape == (19, int(120.0 * 256)) and np.isfinite(record.data_uv).all()
    out = analyze(
        recording_from_array(record.data_uv, 256.0, record.ch_names, "corpus"), "screening"
    ).to_dict()
    row = score_record(record, out)
    assert row["abnormal"] is True
    assert 0.5 <= row["found"] <= 1.0 and row["n_truth"] == len(record.truth)
