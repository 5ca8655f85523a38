"""The linear abnormality probe on EEGPT features: training, saving without pickle, loading,
refusing mismatched or corrupt files, the manifest and `brrr probe train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from processors.errors import ModelUnavailable
from processors.features import EEGPTArchitecture, load_eegpt
from processors.probe import (
    PROBE_FORMAT,
    AbnormalityProbe,
    ProbeTrainingError,
    evaluate_probe,
    load_probe,
    read_manifest,
    split_by_recording,
    train_probe,
)
from processors.synthetic import InjectedEvent, generate_eeg
from processors.types import WindowBatch

torch.set_num_threads(2)

SMALL = EEGPTArchitecture(embed_dim=64, depth=2, num_heads=4)


def _abnormal_events(r: int, duration_s: float) -> list[InjectedEvent]:
    kind = "gpd" if r % 2 == 0 else "lpd"
    return [InjectedEvent(kind, onset_s=0.5, duration_s=duration_s - 1, rate_hz=1.0)]


@pytest.fixture(scope="module")
def eegpt_features() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduced random-dev EEGPT features of 8 normal and 8 abnormal synthetic recordings
    (16 s each, 4 windows): normal background vs background with periodic discharges."""
    data, labels, groups = [], [], []
    for r in range(8):
        for label in (0, 1):
            events = _abnormal_events(r, 16) if label else []
            sig = generate_eeg(16, seed=10 * r + label, events=events)
            w = sig.data_uv.reshape(len(sig.ch_names), 4, 1024).transpose(1, 0, 2)
            data.append(w)
            labels += [label] * 4
            groups += [2 * r + label] * 4
    batch = WindowBatch(
        data_uv=np.concatenate(data).astype(np.float32),
        ch_names=list(sig.ch_names),
        sfreq_hz=256.0,
        start_s=np.arange(len(labels)) * 4.0,
        index=np.arange(len(labels)),
    )
    ex = load_eegpt(None, ch_names=batch.ch_names, allow_random_weights=True, architecture=SMALL)
    return ex.extract(batch), np.array(labels), np.array(groups)


def _toy(n: int = 40, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, d)) + 1.5 * y[:, None] * np.eye(d)[0]
    return x, y


def test_probe_learns_separable_synthetic_labels(eegpt_features) -> None:
    features, labels, groups = eegpt_features
    train, test = split_by_recording(groups, labels, test_fraction=0.25, seed=0)
    assert not set(groups[train]) & set(groups[test])
    probe = train_probe(features[train], labels[train], weights_id="random-dev")
    held_out = evaluate_probe(probe, features[test], labels[test])
    assert held_out["n_normal"] == 8 and held_out["n_abnormal"] == 8  # 2 recordings each
    assert held_out["balanced_accuracy"] > 0.8
    assert held_out["auroc"] > 0.9
    # and it is the features that carry it: shuffled labels do not generalise
    rng = np.random.default_rng(1)
    shuffled = train_probe(features[train], rng.permutation(labels[train]), weights_id="x")
    assert evaluate_probe(shuffled, features[test], labels[test])["auroc"] < 0.9


def test_save_load_round_trip_gives_identical_probabilities(tmp_path: Path, eegpt_features):
    features, labels, _ = eegpt_features
    probe = train_probe(features, labels, weights_id="0123456789abcdef")
    probe.metrics["held_out"] = {"balanced_accuracy": 0.9}
    path = probe.save(tmp_path / "probe.npz")
    assert path == tmp_path / "probe.npz" and path.is_file()
    loaded = load_probe(path, expected_weights_id="0123456789abcdef")
    np.testing.assert_array_equal(loaded.predict_proba(features), probe.predict_proba(features))
    assert loaded.weights_id == "0123456789abcdef"
    assert loaded.version == probe.version
    assert loaded.metrics["held_out"] == {"balanced_accuracy": 0.9}
    assert loaded.metrics["train"]["n_abnormal"] == 32
    # a plain npz, readable without pickle
    with np.load(path, allow_pickle=False) as npz:
        assert json.loads(str(npz["header"][()]))["format"] == PROBE_FORMAT
    # a path without the .npz suffix is kept as given
    assert probe.save(tmp_path / "probe.bin").name == "probe.bin"
    assert load_probe(tmp_path / "probe.bin").n_features == features.shape[1]


def test_version_identifies_the_probe_parameters() -> None:
    x, y = _toy()
    probe = train_probe(x, y, weights_id="w")
    assert len(probe.version) == 16 and int(probe.version, 16) >= 0
    assert train_probe(x, y, weights_id="w").version == probe.version  # deterministic fit
    assert train_probe(x, y, weights_id="w", C=1.0).version != probe.version
    shifted = train_probe(x, y, weights_id="w")
    shifted.intercept += 1e-9
    assert shifted.version != probe.version


def test_probabilities_match_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _toy()
    probe = train_probe(x, y, weights_id="w")
    reference = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)
    ).fit(x, y)
    np.testing.assert_allclose(probe.predict_proba(x), reference.predict_proba(x)[:, 1], atol=1e-9)
    assert probe.n_features_in_ == 6
    p = probe.predict_proba(x)
    assert p.shape == (40,) and (p[y == 1].mean() > p[y == 0].mean())


def test_class_balance_is_weighted() -> None:
    """With 1 abnormal window for 9 normal ones, balanced weights still call abnormal ones."""
    rng = np.random.default_rng(3)
    y = (np.arange(200) % 10 == 0).astype(int)
    x = rng.normal(size=(200, 4)) + 1.2 * y[:, None]
    probe = train_probe(x, y, weights_id="w")
    assert evaluate_probe(probe, x, y)["balanced_accuracy"] > 0.8


def test_probe_refuses_other_eegpt_weights_and_widths(tmp_path: Path) -> None:
    x, y = _toy()
    path = train_probe(x, y, weights_id="aaaa").save(tmp_path / "p.npz")
    with pytest.raises(ModelUnavailable, match="retrain the probe") as info:
        load_probe(path, expected_weights_id="bbbb")
    assert "'aaaa'" in str(info.value) and "'bbbb'" in str(info.value)
    with pytest.raises(ModelUnavailable, match="expects features of shape"):
        load_probe(path).predict_proba(np.zeros((3, 5)))


def test_bad_probe_files(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not found"):
        load_probe(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"\x00\x01 not a zip")
    with pytest.raises(ModelUnavailable, match="corrupt"):
        load_probe(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", header=np.array(json.dumps({"format": "something"})))
    with pytest.raises(ModelUnavailable, match=r"corrupt|format"):
        load_probe(tmp_path / "other.npz")
    x, y = _toy()
    good = train_probe(x, y, weights_id="w").save(tmp_path / "good.npz")
    blob = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelUnavailable, match="corrupt"):
        load_probe(tmp_path / "cut.npz")
    # an object array would need pickle: refused
    np.savez(tmp_path / "pickled.npz", header=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelUnavailable, match="corrupt"):
        load_probe(tmp_path / "pickled.npz")


def test_probe_errors_say_what_to_do(tmp_path: Path) -> None:
    header = np.array(json.dumps({"format": PROBE_FORMAT, "weights_id": "w"}))
    ones = np.ones(3)
    np.savez(tmp_path / "p.npz", header=header, coef=ones, intercept=[0.0], mean=ones, scale=[1.0])
    with pytest.raises(ModelUnavailable, match=r"inconsistent array shapes .*brrr probe train"):
        load_probe(tmp_path / "p.npz")
    x, _ = _toy()
    with pytest.raises(ProbeTrainingError, match=r"got \[2\]: label the manifest"):
        train_probe(x, np.arange(len(x)) % 3, weights_id="w")
    with pytest.raises(ProbeTrainingError, match="not found: give a CSV or JSON manifest"):
        read_manifest(tmp_path / "absent.csv")


def test_training_errors_say_what_is_wrong() -> None:
    x, _ = _toy()
    with pytest.raises(ProbeTrainingError, match="each class"):
        train_probe(x, np.zeros(len(x), dtype=int), weights_id="w")
    with pytest.raises(ProbeTrainingError, match="0 \\(normal\\) or 1"):
        train_probe(x, np.arange(len(x)) % 3, weights_id="w")
    with pytest.raises(ProbeTrainingError, match="one label per window"):
        train_probe(x, np.zeros(3, dtype=int), weights_id="w")
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ProbeTrainingError, match="NaN"):
        train_probe(bad, np.arange(len(x)) % 2, weights_id="w")


def test_read_manifest_forms(tmp_path: Path) -> None:
    for name in ("a.edf", "b.edf", "c.edf"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "m.csv").write_text("path,label\na.edf,normal\nb.edf,Abnormal\n")
    assert read_manifest(tmp_path / "m.csv") == [(tmp_path / "a.edf", 0), (tmp_path / "b.edf", 1)]
    (tmp_path / "m.json").write_text(json.dumps([{"path": str(tmp_path / "c.edf"), "label": 1}]))
    assert read_manifest(tmp_path / "m.json") == [(tmp_path / "c.edf", 1)]
    folder = tmp_path / "set"
    (folder / "normal").mkdir(parents=True)
    (folder / "abnormal").mkdir()
    (folder / "normal" / "n1.edf").write_bytes(b"x")
    (folder / "abnormal" / "a1.EDF").write_bytes(b"x")
    (folder / "abnormal" / "notes.txt").write_text("ignored")
    assert read_manifest(folder) == [
        (folder / "normal" / "n1.edf", 0),
        (folder / "abnormal" / "a1.EDF", 1),
    ]
    (tmp_path / "bad.csv").write_text("path,label\na.edf,weird\n")
    with pytest.raises(ProbeTrainingError, match="unknown label 'weird'"):
        read_manifest(tmp_path / "bad.csv")
    (tmp_path / "gone.csv").write_text("path,label\nmissing.edf,normal\n")
    with pytest.raises(ProbeTrainingError, match="does not exist"):
        read_manifest(tmp_path / "gone.csv")
    (tmp_path / "cols.csv").write_text("file,class\na.edf,normal\n")
    with pytest.raises(ProbeTrainingError, match="path,label"):
        read_manifest(tmp_path / "cols.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProbeTrainingError, match="no manifest"):
        read_manifest(tmp_path / "empty")


def test_split_holds_out_whole_recordings_of_each_class() -> None:
    groups = np.repeat(np.arange(8), 3)
    labels = np.repeat(np.arange(8) % 2, 3)
    train, test = split_by_recording(groups, labels, test_fraction=0.25, seed=4)
    assert set(np.unique(labels[test])) == {0, 1}
    assert not set(groups[train]) & set(groups[test])
    assert len(np.unique(groups[test])) == 2


def test_brrr_probe_train_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command on EDF files: read, window, EEGPT (random-dev, int8), train, report, save."""
    from click.testing import CliRunner

    from connectors.settings import get_settings
    from streams.cli import main

    rows = ["path,label"]
    for r in range(3):
        for label in (0, 1):
            events = _abnormal_events(r, 8) if label else []
            sig = generate_eeg(8, seed=50 + 10 * r + label, events=events)
            name = f"rec{r}_{label}.edf"
            sig.write_edf(tmp_path / name)
            rows.append(f"{name},{'abnormal' if label else 'normal'}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")

    monkeypatch.delenv("BRRR_MODEL_CHECKPOINT_PATH", raising=False)
    monkeypatch.setenv("BRRR_ALLOW_RANDOM_WEIGHTS", "true")
    monkeypatch.setenv("BRRR_EEGPT_INT8", "true")
    get_settings.cache_clear()
    try:
        out = tmp_path / "probe.npz"
        result = CliRunner().invoke(
            main, ["probe", "train", "--features-from", str(tmp_path), "--out", str(out)]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "balanced accuracy" in result.output and "AUROC" in result.output
    assert "random weights" in result.output
    probe = load_probe(out, expected_weights_id="random-dev")
    assert probe.n_features == 2048
    assert probe.metrics["held_out"]["n_recordings"] == 2
    assert probe.metrics["n_recordings"] == 6


def test_brrr_probe_train_reports_bad_manifest(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from streams.cli import main

    (tmp_path / "m.csv").write_text("path,label\nnothere.edf,normal\n")
    result = CliRunner().invoke(
        main, ["probe", "train", "--features-from", str(tmp_path / "m.csv"), "--out", "x.npz"]
    )
    assert result.exit_code == 2
    assert "probe_training_error" in result.output and "does not exist" in result.output


def test_abnormality_probe_is_a_plain_record() -> None:
    probe = AbnormalityProbe(
        coef=np.array([2.0, 0.0]),
        intercept=-1.0,
        mean=np.zeros(2),
        scale=np.ones(2),
        weights_id="w",
    )
    np.testing.assert_allclose(
        probe.predict_proba(np.array([[0.5, 9.0], [0.0, 0.0]])), [0.5, 1 / (1 + np.e)]
    )
