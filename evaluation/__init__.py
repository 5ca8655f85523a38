"""Measurement of the processors, kept out of ``processors/``: it is evaluation, not science.

- :mod:`evaluation.detectors`: sensitivity and false detections per hour of each event
  detector on the project's own synthetic records;
- :mod:`evaluation.corpus`: a harder corpus with its own waveforms on the project's background
  (spike morphologies and fields, LPD/GPD at 0.5-2.5 Hz, three kinds of seizure, burst
  suppression at several ratios, normal records awake and asleep with artifacts);
- :mod:`evaluation.clinical`: the whole analysis (``processors.analyze``) on that corpus,
  per category: verdict, triage, sensitivity, false detections per hour of clean record,
  onset error.

Evaluation seeds are never the seeds the thresholds were tuned on (:data:`EVALUATION_SEED_BASE`).
"""

#: Seeds of the evaluation corpora start here; tests and tuning use seeds below 1000.
EVALUATION_SEED_BASE: int = 50_000
