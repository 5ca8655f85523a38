"""A linear probe on EEGPT features: P(abnormal) for each window.

Linear probing, a logistic regression on frozen features of a pretrained encoder, is how
EEGPT's representations are evaluated [1]_ (TUAB abnormal/normal: balanced accuracy 0.798,
AUROC 0.872). Here the features are standardised (``StandardScaler``) and fed to an L2-regularised
``LogisticRegression`` with balanced class weights, since abnormal recordings are the minority
in most archives [2]_.

Saved probes are ``.npz`` files read with ``allow_pickle=False``: the coefficients, the scaler's
mean and scale, and a JSON header with the format, the ``weights_id`` of the EEGPT weights that
produced the training features and the training metrics. No pickle, so a probe file cannot run
code when loaded.

A probe only makes sense on features from the same EEGPT weights it was trained on: loading it
for an extractor with another ``weights_id`` is an error (:class:`ModelUnavailable`), not a
warning, so that the abnormality stage falls back to the weight-free quantitative-EEG scorer
instead of scoring with a mismatched probe.

References
----------
.. [1] Wang G et al. (2024). EEGPT: Pretrained transformer for universal and reliable
       representation of EEG signals. NeurIPS 37, 39249-39280.
.. [2] Lopez de Diego S (2017). Automated interpretation of abnormal adult
       electroencephalograms. MS thesis, Temple University (the TUH Abnormal EEG corpus).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from processors.errors import ModelUnavailable, ProbeTrainingError

PROBE_FORMAT = "brain-go-brrr/eegpt-linear-probe/1"
#: Label names accepted in manifests, mapped to the class index (1 = abnormal).
LABELS: dict[str, int] = {"normal": 0, "abnormal": 1, "0": 0, "1": 1}


@dataclass
class AbnormalityProbe:
    """Standardise, then logistic regression: P(abnormal) of each window's features.

    Attributes
    ----------
    coef : np.ndarray, shape (n_features,)
        Logistic-regression weights on standardised features.
    intercept : float
    mean, scale : np.ndarray, shape (n_features,)
        The scaler's per-feature mean and standard deviation.
    weights_id : str
        ``weights_id`` of the EEGPT extractor whose features trained the probe.
    metrics : dict
        Training and held-out figures (counts, balanced accuracy, AUROC).
    """

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    weights_id: str
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """Features per window the probe expects."""
        return int(self.coef.shape[0])

    @property
    def version(self) -> str:
        """The probe's identity: the first 16 hex digits of the sha256 of its parameters
        (what ``analyze`` records under ``models["probe"]``)."""
        digest = hashlib.sha256()
        for array in (self.coef, np.array([self.intercept]), self.mean, self.scale):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.hexdigest()[:16]

    @property
    def n_features_in_(self) -> int:
        """scikit-learn's name for :attr:`n_features`, for callers written against sklearn."""
        return self.n_features

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of abnormality per window."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ModelUnavailable(
                f"this probe expects features of shape (n_windows, {self.n_features}), got "
                f"{x.shape}: it was trained on another EEGPT configuration; retrain it with "
                "`brrr probe train`"
            )
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """P(abnormal) per window, shape (n_windows,)."""
        z = self.decision_function(features)
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, overflow-free

    def check_weights(self, weights_id: str) -> None:
        """Raise ModelUnavailable unless the probe was trained on these EEGPT weights."""
        if weights_id != self.weights_id:
            raise ModelUnavailable(
                f"the abnormality probe was trained on EEGPT weights {self.weights_id!r}, but "
                f"the loaded EEGPT weights are {weights_id!r}: retrain the probe with "
                "`brrr probe train` on the configured checkpoint"
            )

    def save(self, path: Path) -> Path:
        """Write the probe as ``.npz`` (no pickle), atomically; returns the path."""
        path = Path(path)
        header = {
            "format": PROBE_FORMAT,
            "weights_id": self.weights_id,
            "n_features": self.n_features,
            "metrics": self.metrics,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    header=np.array(json.dumps(header)),
                    coef=self.coef.astype(np.float64),
                    intercept=np.array([self.intercept], dtype=np.float64),
                    mean=self.mean.astype(np.float64),
                    scale=self.scale.astype(np.float64),
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path


def load_probe(path: Path, *, expected_weights_id: str | None = None) -> AbnormalityProbe:
    """Read a probe written by :meth:`AbnormalityProbe.save`.

    Parameters
    ----------
    path : Path
        The ``.npz`` file.
    expected_weights_id : str or None
        ``weights_id`` of the EEGPT extractor that will produce the features; a probe trained
        on other weights is refused.

    Returns
    -------
    probe : AbnormalityProbe

    Raises
    ------
    ModelUnavailable
        Missing, unreadable or malformed file, or trained on other EEGPT weights.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(
            f"abnormality probe not found at {path}: train one with `brrr probe train` and set "
            "BRRR_PROBE_PATH to it"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            header = json.loads(str(npz["header"][()]))
            arrays = {k: np.asarray(npz[k], dtype=np.float64) for k in ("coef", "mean", "scale")}
            intercept = float(npz["intercept"][0])
    except Exception as exc:
        raise ModelUnavailable(
            f"abnormality probe {path} is corrupt or not a probe file ({type(exc).__name__}: "
            f"{str(exc)[:160]}): train it again with `brrr probe train`"
        ) from exc
    if header.get("format") != PROBE_FORMAT:
        raise ModelUnavailable(
            f"abnormality probe {path} has format {header.get('format')!r}, expected "
            f"{PROBE_FORMAT!r}: train it again with `brrr probe train`"
        )
    n = arrays["coef"].shape
    if arrays["coef"].ndim != 1 or arrays["mean"].shape != n or arrays["scale"].shape != n:
        raise ModelUnavailable(
            f"abnormality probe {path} has inconsistent array shapes (coef {n}, mean "
            f"{arrays['mean'].shape}, scale {arrays['scale'].shape}): train it again with "
            "`brrr probe train`"
        )
    probe = AbnormalityProbe(
        coef=arrays["coef"],
        intercept=intercept,
        mean=arrays["mean"],
        scale=arrays["scale"],
        weights_id=str(header["weights_id"]),
        metrics=dict(header.get("metrics", {})),
    )
    if expected_weights_id is not None:
        probe.check_weights(expected_weights_id)
    return probe


def _check_training_data(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ProbeTrainingError(
            f"need features (n_windows, n_features) and one label per window, got {x.shape} "
            f"and {y.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ProbeTrainingError(
            f"labels must be 0 (normal) or 1 (abnormal), got {np.setdiff1d(y, (0, 1)).tolist()}"
            ": label the manifest's recordings normal or abnormal"
        )
    counts = np.bincount(y.astype(int), minlength=2)
    if counts.min() < 2:
        raise ProbeTrainingError(
            f"need at least 2 windows of each class, got {counts[0]} normal and {counts[1]} "
            "abnormal: add recordings of the missing class to the manifest"
        )
    if not np.isfinite(x).all():
        raise ProbeTrainingError(
            "NaN or infinite values in the training features: drop those windows, or re-export "
            "the recordings they came from"
        )
    return x, y.astype(int)


def train_probe(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    weights_id: str,
    C: float = 0.1,
    max_iter: int = 2000,
) -> AbnormalityProbe:
    """Fit the linear probe.

    Parameters
    ----------
    features : np.ndarray, shape (n_windows, n_features)
        EEGPT features (:meth:`EEGPTFeatureExtractor.extract`).
    labels : np.ndarray, shape (n_windows,)
        1 for abnormal, 0 for normal.
    weights_id : str
        The extractor's ``weights_id``, stored with the probe.
    C : float
        Inverse L2 regularisation strength; 0.1 (stronger than scikit-learn's default of 1)
        because windows are few against thousands of features.
    max_iter : int
        Solver iterations (lbfgs).

    Returns
    -------
    probe : AbnormalityProbe
        With ``metrics["train"]``: counts, balanced accuracy and AUROC on the training set.

    Raises
    ------
    ProbeTrainingError
        Bad shapes, labels other than 0/1, fewer than 2 windows of a class, non-finite values.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = _check_training_data(features, labels)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=max_iter)
    model.fit(scaler.transform(x), y)
    probe = AbnormalityProbe(
        coef=model.coef_[0].astype(np.float64),
        intercept=float(model.intercept_[0]),
        mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64),
        weights_id=weights_id,
    )
    probe.metrics["train"] = evaluate_probe(probe, x, y)
    return probe


def evaluate_probe(
    probe: AbnormalityProbe, features: np.ndarray, labels: np.ndarray, *, threshold: float = 0.5
) -> dict[str, float]:
    """Balanced accuracy and AUROC of a probe on labelled windows.

    Returns
    -------
    metrics : dict
        ``n_normal``, ``n_abnormal``, ``balanced_accuracy`` (at ``threshold``) and ``auroc``
        (NaN when one class is absent).
    """
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    y = np.asarray(labels).astype(int)
    p = probe.predict_proba(features)
    both = len(np.unique(y)) == 2
    return {
        "n_normal": int(np.sum(y == 0)),
        "n_abnormal": int(np.sum(y == 1)),
        "balanced_accuracy": float(balanced_accuracy_score(y, p >= threshold)),
        "auroc": float(roc_auc_score(y, p)) if both else float("nan"),
    }


def read_manifest(source: Path) -> list[tuple[Path, int]]:
    """Labelled recordings for probe training.

    Parameters
    ----------
    source : Path
        One of: a CSV file with columns ``path`` and ``label``; a JSON file holding a list of
        ``{"path": ..., "label": ...}``; or a folder holding ``manifest.csv`` /
        ``manifest.json``, or subfolders ``normal/`` and ``abnormal/`` of EDF/BDF files.
        Labels are ``normal``/``abnormal`` (or 0/1); relative paths are relative to the
        manifest's folder.

    Returns
    -------
    items : list of (Path, int)
        Each recording with its label (1 = abnormal).

    Raises
    ------
    ProbeTrainingError
        Missing source, unreadable manifest, unknown labels, missing recordings.
    """
    source = Path(source)
    if source.is_dir():
        for name in ("manifest.csv", "manifest.json"):
            if (source / name).is_file():
                return read_manifest(source / name)
        items = [
            (path, label)
            for sub, label in (("normal", 0), ("abnormal", 1))
            for path in sorted((source / sub).glob("*"))
            if path.suffix.lower() in {".edf", ".bdf", ".fif"}
        ]
        if not items:
            raise ProbeTrainingError(
                f"{source} holds no manifest.csv/manifest.json and no normal/ or abnormal/ "
                "subfolders of EDF files"
            )
        return items
    if not source.is_file():
        raise ProbeTrainingError(
            f"manifest {source} not found: give a CSV or JSON manifest, or a folder of them"
        )
    try:
        if source.suffix.lower() == ".json":
            rows = json.loads(source.read_text())
        else:
            with source.open(newline="") as f:
                rows = list(csv.DictReader(f))
        pairs = [(str(row["path"]), str(row["label"]).strip().lower()) for row in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProbeTrainingError(
            f"cannot read manifest {source} ({type(exc).__name__}: {exc}): expected CSV columns "
            "path,label or a JSON list of {path, label}"
        ) from exc
    return [_manifest_item(source.parent, path, label) for path, label in pairs]


def _manifest_item(base: Path, path: str, label: str) -> tuple[Path, int]:
    if label not in LABELS:
        raise ProbeTrainingError(f"unknown label {label!r} for {path}: use normal or abnormal")
    full = Path(path) if Path(path).is_absolute() else base / path
    if not full.is_file():
        raise ProbeTrainingError(f"recording {full} listed in the manifest does not exist")
    return full, LABELS[label]


def split_by_recording(
    groups: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train/test masks over windows, holding out whole recordings per class.

    Windows of one recording are correlated, so they stay on one side of the split.

    Parameters
    ----------
    groups : array of int
        Recording number of each window.
    labels : array of int
        Label of each window (one label per recording).
    test_fraction : float
        Share of each class's recordings held out (at least one when the class has two).
    seed : int

    Returns
    -------
    train, test : np.ndarray of bool
    """
    groups = np.asarray(groups)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test_groups: list[int] = []
    for label in (0, 1):
        recs = np.unique(groups[labels == label])
        n_test = min(max(1, round(test_fraction * len(recs))), len(recs) - 1)
        if n_test > 0:
            test_groups.extend(rng.choice(recs, size=n_test, replace=False).tolist())
    test = np.isin(groups, test_groups)
    return ~test, test


class _Extractor(Protocol):
    weights_id: str

    def with_channels(self, ch_names: Sequence[str]) -> _Extractor: ...

    def extract(self, batch: Any, *, batch_size: int = 8) -> np.ndarray: ...


def features_of_recordings(
    items: Sequence[tuple[Path, int]],
    extractor: _Extractor,
    *,
    stride_s: float = 4.0,
    progress: Callable[[int, int, Path], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EEGPT features of every window of labelled recordings.

    Each file is read (``processors.io.read_recording``), cut into conditioned 256 Hz windows
    (``processors.preprocessing.window_recording``, the same path as ``analyze``) and passed
    through the extractor for its montage (``extractor.with_channels``).

    Parameters
    ----------
    items : sequence of (Path, int)
        Recordings and labels (:func:`read_manifest`).
    extractor : EEGPTFeatureExtractor
    stride_s : float
        Step between window starts.
    progress : callable(done, total, path), optional
        Called after each recording.

    Returns
    -------
    features : np.ndarray, shape (n_windows, n_features)
    labels : np.ndarray of int, shape (n_windows,)
    groups : np.ndarray of int, shape (n_windows,)
        Index of the recording each window comes from.
    """
    from processors.io import read_recording
    from processors.preprocessing import window_recording

    feats, labels, groups = [], [], []
    for k, (path, label) in enumerate(items):
        windows = window_recording(read_recording(path), stride_s=stride_s)
        f = extractor.with_channels(windows.ch_names).extract(windows)
        feats.append(f)
        labels.append(np.full(len(f), label, dtype=int))
        groups.append(np.full(len(f), k, dtype=int))
        if progress is not None:
            progress(k + 1, len(items), path)
    if not feats:
        raise ProbeTrainingError(
            "no recordings to train on: list normal and abnormal recordings in the manifest"
        )
    return np.concatenate(feats), np.concatenate(labels), np.concatenate(groups)


def train_probe_on_recordings(
    items: Sequence[tuple[Path, int]],
    extractor: _Extractor,
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    stride_s: float = 4.0,
    progress: Callable[[int, int, Path], None] | None = None,
) -> AbnormalityProbe:
    """Train a probe on labelled recordings and measure it on held-out recordings.

    Whole recordings are held out (:func:`split_by_recording`); the probe is fitted on the
    others and ``metrics["held_out"]`` gets its balanced accuracy and AUROC on the held-out
    windows. With ``test_fraction == 0``, or fewer than two recordings of a class, nothing is
    held out and ``metrics["held_out"]`` says why.

    Returns
    -------
    probe : AbnormalityProbe
        Also carrying ``metrics["n_recordings"]`` and ``metrics["stride_s"]``.
    """
    features, labels, groups = features_of_recordings(
        items, extractor, stride_s=stride_s, progress=progress
    )
    recs_per_class = [len(np.unique(groups[labels == c])) for c in (0, 1)]
    if test_fraction > 0 and min(recs_per_class) >= 2:
        train, test = split_by_recording(groups, labels, test_fraction=test_fraction, seed=seed)
    else:
        train, test = np.ones(len(labels), dtype=bool), np.zeros(len(labels), dtype=bool)
    probe = train_probe(features[train], labels[train], weights_id=extractor.weights_id)
    if test.any():
        probe.metrics["held_out"] = evaluate_probe(probe, features[test], labels[test])
        probe.metrics["held_out"]["n_recordings"] = len(np.unique(groups[test]))
    else:
        probe.metrics["held_out"] = {
            "reason": "no held-out split: needs test_fraction > 0 and at least 2 recordings "
            f"per class (normal: {recs_per_class[0]}, abnormal: {recs_per_class[1]})"
        }
    probe.metrics["n_recordings"] = len(items)
    probe.metrics["stride_s"] = stride_s
    return probe
