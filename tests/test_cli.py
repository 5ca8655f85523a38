"""``brrr analyze``: real files, clear errors, and models loaded from the settings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from connectors.settings import get_settings
from processors.features import EEGPT_LARGE, _build_model, map_channels
from processors.montage import STANDARD_1020_19
from processors.probe import load_probe, train_probe
from processors.synthetic import InjectedEvent, generate_eeg
from streams.cli import main


@pytest.fixture
def settings_env(monkeypatch):
    """Set BRRR_* variables for one test; the settings are re-read around it."""

    def set_env(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"BRRR_{key.upper()}", value)
        get_settings.cache_clear()

    get_settings.cache_clear()
    yield set_env
    get_settings.cache_clear()


def test_analyze_a_real_clinical_file_writes_json_and_plot(real_data_dir, tmp_path, settings_env):
    settings_env()
    out_json, out_png = tmp_path / "result.json", tmp_path / "result.png"
    run = CliRunner().invoke(
        main,
        [
            "analyze",
            str(real_data_dir / "nihon_kohden_clinical_19ch_200hz.edf"),
            "--type",
            "screening",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
            "--quiet",
        ],
    )
    assert run.exit_code == 0, run.output
    assert "triage priority" in run.output
    result = json.loads(out_json.read_text())
    assert result["recording"]["n_channels"] == 19
    assert result["recording"]["sfreq_hz"] == 200.0
    assert "T7" in result["recording"]["ch_names"]
    assert result["features"]["status"] == "skipped"
    assert "BRRR_MODEL_CHECKPOINT_PATH" in result["features"]["reason"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_png.stat().st_size > 20_000


def test_analyze_refuses_an_annotation_only_file_with_a_clear_error(real_data_dir, settings_env):
    settings_env()
    run = CliRunner().invoke(
        main, ["analyze", str(real_data_dir / "sleep_edf_SC4001EC_hypnogram.edf"), "--quiet"]
    )
    assert run.exit_code == 2
    assert "annotations_only" in run.output
    assert "no signal" in run.output.lower() or "annotation" in run.output.lower()


def test_analyze_loads_the_configured_checkpoint_and_probe(tmp_path, settings_env):
    """The real loading path: an official-layout Lightning checkpoint and a trained probe,
    both named by environment variables, produce an EEGPT-probe verdict that records them."""
    torch.set_num_threads(2)
    torch.manual_seed(3)
    source = _build_model(map_channels(STANDARD_1020_19), EEGPT_LARGE)
    state = {f"target_encoder.{k}": v for k, v in source.target_encoder.state_dict().items()}
    checkpoint = tmp_path / "eegpt_mcae_58chs_4s_large4E.ckpt"
    torch.save({"state_dict": state, "epoch": 1}, checkpoint)
    weights_id = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, EEGPT_LARGE.n_features)).astype(np.float32)
    labels = np.r_[np.zeros(20), np.ones(20)].astype(int)
    features[labels == 1] += 0.5
    probe_path = tmp_path / "probe.npz"
    train_probe(features, labels, weights_id=weights_id).save(probe_path)

    eeg = generate_eeg(40.0, events=[InjectedEvent("spike", onset_s=10.0, duration_s=0.05)])
    edf = eeg.write_edf(tmp_path / "short.edf")
    settings_env(model_checkpoint_path=str(checkpoint), probe_path=str(probe_path))
    out_json = tmp_path / "result.json"
    run = CliRunner().invoke(main, ["analyze", str(edf), "--json", str(out_json), "--quiet"])
    assert run.exit_code == 0, run.output
    result = json.loads(out_json.read_text())
    assert result["features"]["status"] == "completed"
    assert result["features"]["n_features"] == 2048
    assert result["features"]["n_windows"] == 10
    assert result["models"]["eegpt"]["weights_id"] == weights_id
    assert result["abnormality_detection"]["scorer"] == "eegpt-probe"
    assert result["models"]["probe"] == load_probe(probe_path).version

    # A probe trained on other weights is refused, and the qEEG baseline answers instead.
    train_probe(features, labels, weights_id="0123456789abcdef").save(probe_path)
    run = CliRunner().invoke(main, ["analyze", str(edf), "--json", str(out_json), "--quiet"])
    assert run.exit_code == 0, run.output
    result = json.loads(out_json.read_text())
    assert result["abnormality_detection"]["scorer"] == "qeeg-baseline"
    assert result["models"]["probe"] is None


def test_analyze_of_a_missing_file_says_so(tmp_path: Path, settings_env):
    settings_env()
    run = CliRunner().invoke(main, ["analyze", str(tmp_path / "nope.edf"), "--quiet"])
    assert run.exit_code == 2
    assert "nope.edf" in run.output
