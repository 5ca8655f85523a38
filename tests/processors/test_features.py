"""EEGPT features: checkpoint loading (official Lightning layout and plain state dicts), the
channel vocabulary, batch validation, int8 fidelity.

Most tests use a reduced EEGPT (embedding 64, depth 2) for speed; the official-layout round
trip and the int8 fidelity use the real large architecture.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from processors.errors import (
    ModelUnavailable,
    NonFiniteSamples,
    WrongSamplingRate,
)
from processors.features import (
    EEGPT_CHANNELS,
    EEGPT_LARGE,
    RANDOM_DEV_WEIGHTS_ID,
    EEGPTArchitecture,
    _build_model,
    feature_fidelity,
    load_eegpt,
    map_channels,
)
from processors.probe import train_probe
from processors.synthetic import InjectedEvent, generate_eeg
from processors.types import WindowBatch

torch.set_num_threads(2)

SMALL = EEGPTArchitecture(embed_dim=64, depth=2, num_heads=4)
CH19 = [
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz",
    "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2",
]  # fmt: skip


def _windows(data_uv: np.ndarray) -> np.ndarray:
    """Consecutive 1024-sample windows of a (channels, samples) array at 256 Hz."""
    n = data_uv.shape[1] // 1024
    return data_uv[:, : n * 1024].reshape(data_uv.shape[0], n, 1024).transpose(1, 0, 2)


def _batch(data_uv: np.ndarray, ch_names: list[str], sfreq_hz: float = 256.0) -> WindowBatch:
    n = data_uv.shape[0]
    return WindowBatch(
        data_uv=np.ascontiguousarray(data_uv, dtype=np.float32),
        ch_names=list(ch_names),
        sfreq_hz=sfreq_hz,
        start_s=np.arange(n) * 4.0,
        index=np.arange(n),
    )


@pytest.fixture(scope="module")
def labelled() -> tuple[WindowBatch, np.ndarray]:
    """Windows of normal synthetic background (0) and of background with periodic
    discharges (1): generalized at 1 Hz or lateralized at 1 Hz."""
    data, labels = [], []
    for r in range(4):
        normal = generate_eeg(16, seed=r)
        kind = "gpd" if r % 2 == 0 else "lpd"
        abnormal = generate_eeg(
            16, seed=100 + r, events=[InjectedEvent(kind, onset_s=0.5, duration_s=15, rate_hz=1)]
        )
        for label, sig in ((0, normal), (1, abnormal)):
            w = _windows(sig.data_uv)
            data.append(w)
            labels += [label] * len(w)
    return _batch(np.concatenate(data), CH19), np.array(labels)


@pytest.fixture(scope="module")
def source_small() -> torch.nn.Module:
    """A braindecode EEGPT (reduced) with weights other than the loader's random-dev seed."""
    torch.manual_seed(1234)
    model = _build_model(map_channels(CH19), SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _reference_features(model: torch.nn.Module, batch: WindowBatch) -> np.ndarray:
    """What the extractor must return: summary tokens averaged over patches, input in mV."""
    with torch.inference_mode():
        z = model(torch.from_numpy(batch.data_uv) / 1000.0)
    return z.mean(dim=1).flatten(1).numpy()


def _official_lightning(encoder_state: dict[str, torch.Tensor]) -> dict:
    """A checkpoint in the layout of eegpt_mcae_58chs_4s_large4E.ckpt: the momentum encoder
    under target_encoder., beside the online encoder, predictor and reconstructor."""
    state = {f"target_encoder.{k}": v.clone() for k, v in encoder_state.items()}
    # The online encoder differs from the target encoder: loading it by mistake must show.
    state["encoder.summary_token"] = torch.randn_like(encoder_state["summary_token"])
    state["encoder.norm.weight"] = torch.randn_like(encoder_state["norm.weight"])
    state["predictor.mask_token"] = torch.randn(1, 1, 4, 32)
    state["predictor.predictor_embed.weight"] = torch.randn(32, 64)
    state["reconstructor.mask_token"] = torch.randn(1, 1, 32)
    state["reconstructor.chan_embed.weight"] = torch.randn(62, 32)
    return {
        "epoch": 199,
        "global_step": 123456,
        "pytorch-lightning_version": "2.1.0",
        "state_dict": state,
        "hyper_parameters": argparse.Namespace(lr=5e-4, path=Path("/data/pretrain")),
        "callbacks": {"ModelCheckpoint": {"best_model_score": np.float64(0.12)}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 5e-4}]}],
    }


def test_vocabulary_is_the_official_and_braindecode_list() -> None:
    from braindecode.models.eegpt import EEGPT_CHANNELS as BD_CHANNELS

    assert tuple(BD_CHANNELS) == EEGPT_CHANNELS
    assert len(EEGPT_CHANNELS) == 62  # rows of the checkpoint's channel-embedding table
    assert EEGPT_CHANNELS[0] == "FP1" and EEGPT_CHANNELS[-1] == "O2"


def test_map_channels_finds_19_standard_channels_and_drops_unknown() -> None:
    idx = map_channels(CH19)
    assert len(idx) == 19
    assert [EEGPT_CHANNELS[i] for i in idx] == [c.upper() for c in CH19]
    # case-insensitive, trailing dots as in 'Fc5.'
    assert map_channels(["fp1", "CZ", "Fc5."]) == [0, 29, 17]
    assert map_channels(["A1", "ECG", "Foo", "Cz", "cz"]) == [29]


def test_extractor_reports_dropped_channels() -> None:
    names = ["Fp1", "A1", "Cz", "ECG", "O2", "CZ"]
    ex = load_eegpt(None, ch_names=names, allow_random_weights=True, architecture=SMALL)
    assert ex.channels_used == ["Fp1", "Cz", "O2"]
    assert ex.channels_dropped == ["A1", "ECG", "CZ"]
    batch = _batch(np.random.default_rng(0).normal(0, 20, (2, 6, 1024)), names)
    assert ex.extract(batch).shape == (2, SMALL.n_features)


def test_no_known_channel_is_refused() -> None:
    with pytest.raises(ModelUnavailable, match="vocabulary"):
        load_eegpt(None, ch_names=["A1", "ECG"], allow_random_weights=True, architecture=SMALL)


def test_no_checkpoint_configured_raises_with_the_setting_to_use() -> None:
    with pytest.raises(ModelUnavailable, match="BRRR_MODEL_CHECKPOINT_PATH") as info:
        load_eegpt(None, ch_names=CH19, architecture=SMALL)
    assert "no checkpoint configured" in str(info.value)


def test_random_weights_only_when_allowed_and_seeded(labelled) -> None:
    batch, _ = labelled
    a = load_eegpt(None, ch_names=CH19, allow_random_weights=True, architecture=SMALL)
    b = load_eegpt(None, ch_names=CH19, allow_random_weights=True, architecture=SMALL)
    assert a.weights_id == RANDOM_DEV_WEIGHTS_ID
    assert a.precision == "fp32"
    assert a.model_version.startswith("braindecode-") and a.model_version.endswith("-eegpt")
    fa = a.extract(batch)
    np.testing.assert_array_equal(fa, b.extract(batch))
    assert fa.dtype == np.float32 and fa.shape == (batch.n_windows, 4 * 64)
    # the features depend on the window, not only on the weights
    assert np.std(fa, axis=0).max() > 1e-4


def test_official_lightning_checkpoint_full_size_round_trip(tmp_path: Path, labelled) -> None:
    """The real architecture: official key names under target_encoder., other modules ignored,
    features identical to the source model's."""
    batch, _ = labelled
    batch = _batch(batch.data_uv[:4], CH19)
    torch.manual_seed(7)
    source = _build_model(map_channels(CH19), EEGPT_LARGE)
    with torch.no_grad():
        source.target_encoder.summary_token.add_(0.1)
    encoder_state = source.target_encoder.state_dict()
    assert "blocks.7.mlp.fc2.weight" in encoder_state and len(encoder_state) == 102
    path = tmp_path / "eegpt_mcae_58chs_4s_large4E.ckpt"
    torch.save(_official_lightning(encoder_state), path)

    ex = load_eegpt(path, ch_names=CH19)
    np.testing.assert_allclose(ex.extract(batch), _reference_features(source, batch), atol=1e-6)
    assert ex.extract(batch).shape == (4, 2048)
    assert ex.weights_id == hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_plain_state_dicts_load(tmp_path: Path, labelled, source_small) -> None:
    batch, _ = labelled
    batch = _batch(batch.data_uv[:3], CH19)
    expected = _reference_features(source_small, batch)
    encoder = source_small.target_encoder.state_dict()
    layouts = {
        "braindecode": source_small.state_dict(),  # target_encoder.* plus the chans_id buffer
        "official_bare": dict(encoder),  # summary_token, blocks.0..., no prefix
        "ddp_bare": {f"module.{k}": v for k, v in encoder.items()},
        "lightning_small": _official_lightning(encoder),
    }
    for name, content in layouts.items():
        path = tmp_path / f"{name}.pt"
        torch.save(content, path)
        ex = load_eegpt(path, ch_names=CH19, architecture=SMALL)
        np.testing.assert_allclose(ex.extract(batch), expected, atol=1e-6, err_msg=name)


def test_half_precision_checkpoint_is_read_as_float32(tmp_path: Path, labelled, source_small):
    batch, _ = labelled
    batch = _batch(batch.data_uv[:2], CH19)
    half = {k: v.half() for k, v in source_small.target_encoder.state_dict().items()}
    torch.save({"state_dict": {f"target_encoder.{k}": v for k, v in half.items()}}, tmp_path / "h")
    ex = load_eegpt(tmp_path / "h", ch_names=CH19, architecture=SMALL)
    feats = ex.extract(batch)
    assert feats.dtype == np.float32
    assert feature_fidelity(_reference_features(source_small, batch), feats)["min_cosine"] > 0.99


def _expect_unavailable(path: Path, match: str) -> str:
    with pytest.raises(ModelUnavailable, match=match) as info:
        load_eegpt(path, ch_names=CH19, architecture=SMALL)
    return str(info.value)


class _Custom:
    pass


def test_each_bad_checkpoint_gets_its_reason(tmp_path: Path, source_small) -> None:
    _expect_unavailable(tmp_path / "absent.ckpt", "not found")
    _expect_unavailable(tmp_path, "not a file")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    _expect_unavailable(tmp_path / "empty.ckpt", "empty")
    (tmp_path / "text.ckpt").write_text("this is not a checkpoint\n")
    _expect_unavailable(tmp_path / "text.ckpt", "corrupt|not a readable torch file")

    good = tmp_path / "good.ckpt"
    torch.save(_official_lightning(source_small.target_encoder.state_dict()), good)
    blob = good.read_bytes()
    (tmp_path / "truncated.ckpt").write_bytes(blob[: len(blob) // 2])
    _expect_unavailable(tmp_path / "truncated.ckpt", "corrupt or truncated")

    torch.save({"state_dict": {"predictor.mask_token": torch.zeros(3)}}, tmp_path / "pred.ckpt")
    msg = _expect_unavailable(tmp_path / "pred.ckpt", "no encoder weights")
    assert "predictor (1 tensors)" in msg

    torch.save(torch.zeros(3), tmp_path / "tensor.ckpt")
    _expect_unavailable(tmp_path / "tensor.ckpt", "not a state dict")

    torch.save({"state_dict": {}, "hyper_parameters": {"x": _Custom()}}, tmp_path / "unsafe.ckpt")
    msg = _expect_unavailable(tmp_path / "unsafe.ckpt", "beyond tensors")
    assert "_Custom" in msg and "weights_only=False" in msg


def test_mismatched_shapes_name_the_keys(tmp_path: Path) -> None:
    other = _build_model(map_channels(CH19), EEGPTArchitecture(embed_dim=32, depth=3, num_heads=4))
    torch.save(_official_lightning(other.target_encoder.state_dict()), tmp_path / "other.ckpt")
    msg = _expect_unavailable(tmp_path / "other.ckpt", "does not fit")
    assert "summary_token (1, 4, 32) (model: (1, 4, 64))" in msg
    assert "12 unexpected keys: blocks.2." in msg  # a block the model does not have
    assert "embed_dim=32" in msg and "depth=3" in msg


def test_extract_validates_the_batch(labelled) -> None:
    batch, _ = labelled
    ex = load_eegpt(None, ch_names=CH19, allow_random_weights=True, architecture=SMALL)
    data = batch.data_uv[:2]
    with pytest.raises(WrongSamplingRate, match="256 Hz"):
        ex.extract(_batch(data, CH19, sfreq_hz=250.0))
    with pytest.raises(WrongSamplingRate, match="1024 samples"):
        ex.extract(_batch(data[:, :, :512], CH19))
    bad = data.copy()
    bad[1, 3, 100] = np.nan
    with pytest.raises(NonFiniteSamples):
        ex.extract(_batch(bad, CH19))
    with pytest.raises(ModelUnavailable, match="with_channels"):
        ex.extract(_batch(data[:, :10], CH19[:10]))
    assert ex.extract(_batch(data[:0], CH19)).shape == (0, SMALL.n_features)


def test_batch_size_does_not_change_features(labelled) -> None:
    batch, _ = labelled
    batch = _batch(batch.data_uv[:5], CH19)
    ex = load_eegpt(None, ch_names=CH19, allow_random_weights=True, architecture=SMALL)
    np.testing.assert_allclose(ex.extract(batch, batch_size=2), ex.extract(batch), atol=1e-5)


def test_with_channels_shares_weights(labelled, tmp_path: Path, source_small) -> None:
    batch, _ = labelled
    torch.save(source_small.target_encoder.state_dict(), tmp_path / "w.pt")
    ex = load_eegpt(tmp_path / "w.pt", ch_names=CH19, architecture=SMALL)
    sub_names = ["O2", "Cz", "Fp1", "T7"]
    sub = ex.with_channels(sub_names)
    assert sub is ex.with_channels(sub_names) and ex.with_channels(CH19) is ex
    assert sub.weights_id == ex.weights_id and sub.channels_used == sub_names
    shared = sub._model.encoder.target_encoder.summary_token  # the traced encoder's
    assert shared.data_ptr() == ex._model.encoder.target_encoder.summary_token.data_ptr()
    picks = [CH19.index(n) for n in sub_names]
    sub_batch = _batch(batch.data_uv[:3][:, picks], sub_names)
    fresh = load_eegpt(tmp_path / "w.pt", ch_names=sub_names, architecture=SMALL)
    np.testing.assert_array_equal(sub.extract(sub_batch), fresh.extract(sub_batch))


def test_int8_features_stay_close_to_fp32_full_size(labelled) -> None:
    """Dynamic int8 quantization of the linear layers of the large model, same weights.

    With random weights the figure is a plumbing check of the quantized path, not a measure
    of the fidelity the real checkpoint would show."""
    batch, _ = labelled
    picks = np.r_[0:3, 4:7]  # 3 normal, 3 abnormal windows
    small_batch = _batch(batch.data_uv[picks], CH19)
    fp32 = load_eegpt(None, ch_names=CH19, allow_random_weights=True)
    int8 = load_eegpt(None, ch_names=CH19, allow_random_weights=True, int8=True)
    assert int8.precision == "int8" and fp32.precision == "fp32"
    assert type(int8._eager.target_encoder.blocks[0].attn.qkv).__module__.startswith(
        "torch.ao.nn.quantized"
    )
    f32, f8 = fp32.extract(small_batch), int8.extract(small_batch)
    assert not np.array_equal(f32, f8)  # really another computation
    fid = feature_fidelity(f32, f8)
    assert fid["min_cosine"] > 0.99
    assert fid["mean_centred_cosine"] > 0.3  # window-dependent part survives quantization


def test_verdicts_agree_between_fp32_and_int8(labelled) -> None:
    """A probe trained on fp32 features gives the same verdicts on int8 features."""
    batch, labels = labelled
    fp32 = load_eegpt(None, ch_names=CH19, allow_random_weights=True, architecture=SMALL)
    int8 = load_eegpt(None, ch_names=CH19, allow_random_weights=True, architecture=SMALL, int8=True)
    f32, f8 = fp32.extract(batch), int8.extract(batch)
    probe = train_probe(f32, labels, weights_id=fp32.weights_id)
    fid = feature_fidelity(f32, f8, probe=probe)
    assert fid["verdict_agreement"] >= 0.9
    assert fid["mean_cosine"] > 0.99


def test_feature_fidelity_measures() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10, 32))
    same = feature_fidelity(a, a.copy())
    assert same["min_cosine"] == pytest.approx(1.0) and same["relative_l2"] == 0.0
    opposite = feature_fidelity(a, -a)
    assert opposite["mean_cosine"] == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        feature_fidelity(a, a[:5])


def test_bf16_features_stay_close_to_fp32_and_auto_picks_by_cpu(labelled) -> None:
    """bf16 autocast on the same weights: features close to fp32, and a probe trained on
    fp32 gives the same verdicts; ``auto`` is bf16 where the CPU multiplies bfloat16."""
    from processors.features import cpu_supports_bf16, resolve_precision

    batch, labels = labelled
    fp32 = load_eegpt(None, ch_names=CH19, allow_random_weights=True, architecture=SMALL)
    bf16 = load_eegpt(
        None, ch_names=CH19, allow_random_weights=True, architecture=SMALL, precision="bf16"
    )
    assert bf16.precision == "bf16"
    f32, f16 = fp32.extract(batch), bf16.extract(batch)
    assert not np.array_equal(f32, f16)  # really another arithmetic
    probe = train_probe(f32, labels, weights_id=fp32.weights_id)
    fid = feature_fidelity(f32, f16, probe=probe)
    assert fid["min_cosine"] > 0.99 and fid["verdict_agreement"] >= 0.9
    assert resolve_precision("auto", bf16_native=True) == "bf16"
    assert resolve_precision("auto", bf16_native=False) == "int8"
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match="auto or one of"):
        resolve_precision("fp16")
    assert cpu_supports_bf16("flags\t: fpu sse avx512f amx_bf16 amx_tile\n")
    assert not cpu_supports_bf16("flags\t: fpu sse avx2\n")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_the_traced_encoder_gives_the_eager_encoders_features(labelled, precision) -> None:
    """EEGPT runs as a TorchScript trace (a forward pass that does not take the GIL back
    between operations) with the features of the eager modules it was traced from, for any
    number of windows per pass."""
    batch, _ = labelled
    ex = load_eegpt(None, ch_names=CH19, allow_random_weights=True, precision=precision)
    assert isinstance(ex._model, torch.jit.ScriptModule)
    traced = ex.extract(batch, batch_size=3)  # traced on passes of 4: other sizes run too
    eager_ex = load_eegpt(None, ch_names=CH19, allow_random_weights=True, precision=precision)
    eager_ex._model = eager_ex._eager
    eager = eager_ex.extract(batch, batch_size=3)
    assert feature_fidelity(eager, traced)["min_cosine"] > 0.9999
