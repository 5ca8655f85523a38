"""EEGPT features: a pretrained transformer encoder turns each 4 s window into one vector.

EEGPT [1]_ is a 25M-parameter transformer encoder (embedding 512, depth 8, 8 heads, 4 summary
tokens) pretrained on 4 s windows at 256 Hz cut into 64-sample patches without overlap, on the
channels of the 10-10 system, with signals in millivolts. ``braindecode.models.EEGPT`` [2]_ is a
port of its encoder; here it runs with ``patch_stride == patch_size`` (braindecode's default
stride of 32 samples would overlap the patches, unlike pretraining) and with no channel
projection, each input channel getting its own pretrained channel embedding.

Features
--------
The encoder returns, for each of the 16 time patches of a window, the 4 summary tokens
(512 values each). A window's feature vector is the mean of the summary tokens over the 16
patches, the 4 tokens concatenated: ``4 x 512 = 2048`` float32 values per window.

Weights
-------
The official checkpoint ``eegpt_mcae_58chs_4s_large4E.ckpt`` is a PyTorch Lightning checkpoint:
``{"state_dict": {...}, "epoch": ..., "pytorch-lightning_version": ...}``. Its ``state_dict``
holds the online encoder (``encoder.``), the momentum encoder (``target_encoder.``), the
predictor and the reconstructor. The official linear-probing code loads ``target_encoder.``;
so does :func:`load_eegpt`. The official module names (``summary_token``,
``patch_embed.proj``, ``chan_embed``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``norm``) are exactly braindecode's ``_EEGTransformer`` names, and
braindecode keeps that module as ``EEGPT.target_encoder``: the mapping is the identity below the
``target_encoder.`` prefix (braindecode 1.8.1 carries no rename table for EEGPT). Also accepted:
a plain state dict with the same names and no prefix, and a braindecode ``EEGPT.state_dict()``
(its ``chans_id`` buffer and any ``chan_proj.``/``final_layer.`` head are ignored).

Checkpoints are read with ``torch.load(..., weights_only=True)``: tensors and plain containers
only, plus a short list of harmless types Lightning writes in ``hyper_parameters``
(``argparse.Namespace``, ``pathlib`` paths, numpy scalars). Anything else is refused with the
names of the offending types: unpickling arbitrary objects can run code.

int8
----
``int8=True`` applies dynamic quantization to every ``nn.Linear`` (weights int8, activations
quantized on the fly) with ``torch.ao.quantization.quantize_dynamic``; the patch convolution and
layer norms stay in float32. torch 2.11 still ships this API but marks ``torch.ao.quantization``
deprecated in favour of ``torchao`` (not installed here); the deprecation notice is muted.
:func:`feature_fidelity` measures what quantization costs.

References
----------
.. [1] Wang G, Liu W, He Y, Xu C, Ma L, Li H (2024). EEGPT: Pretrained transformer for universal
       and reliable representation of EEG signals. Advances in Neural Information Processing
       Systems 37, 39249-39280.
.. [2] Schirrmeister RT et al. (2017). Deep learning with convolutional neural networks for EEG
       decoding and visualization. Human Brain Mapping 38(11):5391-5420 (braindecode).
"""

from __future__ import annotations

import argparse
import pathlib
import pickle
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from processors.errors import ModelUnavailable, WrongSamplingRate
from processors.io import check_finite, content_id
from processors.types import MODEL_SFREQ_HZ, PATCH_SAMPLES, WINDOW_SAMPLES, WindowBatch

if TYPE_CHECKING:  # the probe's protocol, without importing the qEEG stack at run time
    from processors.abnormality import SupportsPredictProba

#: EEGPT's channel vocabulary, in the order of its channel-embedding table (the official
#: ``CHANNEL_DICT``; braindecode's ``EEGPT_CHANNELS`` is the same list). The paper pretrains on
#: 58 of these; the checkpoint's embedding table has one row for each of the 62.
EEGPT_CHANNELS: tuple[str, ...] = (
    "FP1", "FPZ", "FP2",
    "AF7", "AF3", "AF4", "AF8",
    "F7", "F5", "F3", "F1", "FZ", "F2", "F4", "F6", "F8",
    "FT7", "FC5", "FC3", "FC1", "FCZ", "FC2", "FC4", "FC6", "FT8",
    "T7", "C5", "C3", "C1", "CZ", "C2", "C4", "C6", "T8",
    "TP7", "CP5", "CP3", "CP1", "CPZ", "CP2", "CP4", "CP6", "TP8",
    "P7", "P5", "P3", "P1", "PZ", "P2", "P4", "P6", "P8",
    "PO7", "PO5", "PO3", "POZ", "PO4", "PO6", "PO8",
    "O1", "OZ", "O2",
)  # fmt: skip
_VOCAB_INDEX: dict[str, int] = {name: i for i, name in enumerate(EEGPT_CHANNELS)}

#: The module names of EEGPT's encoder, as the official code and braindecode both spell them.
ENCODER_PREFIX = "target_encoder."
_ENCODER_TOP_LEVEL = frozenset({"summary_token", "patch_embed", "chan_embed", "blocks", "norm"})

#: Microvolts per millivolt: windows arrive in microvolts, EEGPT was pretrained in millivolts.
UV_PER_MV = 1000.0
#: Seed of the development-only random weights (``weights_id == "random-dev"``).
RANDOM_DEV_SEED = 0
RANDOM_DEV_WEIGHTS_ID = "random-dev"
DEFAULT_N_THREADS = 2

try:  # numpy >= 2
    from numpy._core.multiarray import scalar as _numpy_scalar
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core.multiarray import scalar as _numpy_scalar

# Harmless types that Lightning checkpoints carry in ``hyper_parameters``.
_SAFE_EXTRA_GLOBALS: list[Any] = [
    argparse.Namespace,
    pathlib.Path,
    pathlib.PosixPath,
    pathlib.WindowsPath,
    np.dtype,
    _numpy_scalar,
    (_numpy_scalar, "numpy.core.multiarray.scalar"),  # as numpy 1 pickled it
    *[type(np.dtype(t)) for t in ("float16", "float32", "float64", "int32", "int64", "bool")],
]


@dataclass(frozen=True)
class EEGPTArchitecture:
    """Shape of an EEGPT encoder. The default is the published large model (25M parameters).

    Smaller shapes exist for fast plumbing tests; a checkpoint must match the shape exactly.
    """

    embed_dim: int = 512
    depth: int = 8
    num_heads: int = 8
    embed_num: int = 4
    mlp_ratio: float = 4.0
    patch_size: int = PATCH_SAMPLES

    @property
    def n_features(self) -> int:
        """Length of one window's feature vector (summary tokens x embedding)."""
        return self.embed_num * self.embed_dim


EEGPT_LARGE = EEGPTArchitecture()


def _vocabulary_key(name: str) -> str:
    return name.strip().strip(".").upper()


def _split_channels(ch_names: Sequence[str]) -> tuple[list[int], list[int], list[str]]:
    """Positions kept, their vocabulary indices, and the names dropped (unknown or repeated)."""
    positions: list[int] = []
    vocab: list[int] = []
    dropped: list[str] = []
    for pos, name in enumerate(ch_names):
        idx = _VOCAB_INDEX.get(_vocabulary_key(name))
        if idx is None or idx in vocab:
            dropped.append(name)
        else:
            positions.append(pos)
            vocab.append(idx)
    return positions, vocab, dropped


def map_channels(ch_names: Sequence[str]) -> list[int]:
    """Indices into :data:`EEGPT_CHANNELS` of the channels EEGPT knows, in input order.

    Parameters
    ----------
    ch_names : sequence of str
        Channel names, standard 10-20/10-10 spelling in any case (``Fp1``, ``FP1``, ``Fc5.``).

    Returns
    -------
    indices : list of int
        One vocabulary index per known channel. Channels outside the vocabulary (ear
        references such as ``A1``, non-EEG channels, unknown names) and repeats of a channel
        already seen are left out; :class:`EEGPTFeatureExtractor` reports them in
        ``channels_dropped``.
    """
    return _split_channels(ch_names)[1]


def _eegpt_class() -> type[nn.Module]:
    """braindecode's EEGPT, imported on first use (it pulls in MNE montages and pandas)."""
    with warnings.catch_warnings():
        # braindecode 1.8.1 builds its channel list from MNE's 'standard_1020' montage at import,
        # which MNE 1.13 deprecates; our vocabulary is fixed above and does not depend on it.
        warnings.filterwarnings("ignore", message=".*standard_1020.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        from braindecode.models import EEGPT
    return EEGPT


def _braindecode_version() -> str:
    from importlib.metadata import version

    return version("braindecode")


def _build_model(vocab: Sequence[int], architecture: EEGPTArchitecture) -> nn.Module:
    """A braindecode EEGPT encoder for these vocabulary channels, seeded, in eval mode."""
    EEGPT = _eegpt_class()
    names = [EEGPT_CHANNELS[i] for i in vocab]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_DEV_SEED)
        model = EEGPT(
            n_chans=len(names),
            n_times=WINDOW_SAMPLES,
            sfreq=MODEL_SFREQ_HZ,
            chs_info=[{"ch_name": name} for name in names],
            patch_size=architecture.patch_size,
            patch_stride=architecture.patch_size,  # no overlap, as in pretraining
            embed_num=architecture.embed_num,
            embed_dim=architecture.embed_dim,
            depth=architecture.depth,
            num_heads=architecture.num_heads,
            mlp_ratio=architecture.mlp_ratio,
            chan_proj_type="none",
            return_encoder_output=True,
        )
    # Our vocabulary decides the channel embeddings, whatever braindecode's lookup made of them.
    model.chans_id = torch.tensor([list(vocab)], dtype=torch.long)
    return model.eval()


@lru_cache(maxsize=2)
def _random_dev_state(architecture: EEGPTArchitecture) -> dict[str, torch.Tensor]:
    """The seeded random encoder weights (development only), built once per architecture.

    The weights do not depend on the channel list: the embedding table covers the vocabulary.
    """
    model = _build_model([0], architecture)
    return {k: v.detach() for k, v in model.target_encoder.state_dict().items()}


Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def _quantize_int8(model: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def _torch_load(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; every failure becomes ModelUnavailable."""
    if not path.exists():
        raise ModelUnavailable(
            f"EEGPT checkpoint not found at {path}: check BRRR_MODEL_CHECKPOINT_PATH "
            "(the official file is eegpt_mcae_58chs_4s_large4E.ckpt)"
        )
    if not path.is_file():
        raise ModelUnavailable(
            f"EEGPT checkpoint path {path} is not a file: point BRRR_MODEL_CHECKPOINT_PATH "
            "at the .ckpt file itself"
        )
    if path.stat().st_size == 0:
        raise ModelUnavailable(f"EEGPT checkpoint {path} is empty: download or copy it again")
    try:
        with torch.serialization.safe_globals(_SAFE_EXTRA_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise ModelUnavailable(
                f"EEGPT checkpoint {path} is not a readable torch file ({exc}): "
                "download or copy it again"
            ) from exc
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:
            unsafe = []
        allowed = {g[1] if isinstance(g, tuple) else _global_name(g) for g in _SAFE_EXTRA_GLOBALS}
        unsafe = [g for g in unsafe if g not in allowed]
        raise ModelUnavailable(
            f"EEGPT checkpoint {path} holds Python objects beyond tensors "
            f"({', '.join(unsafe) or 'unknown types'}); it was not loaded because unpickling "
            "them could run code. If you trust the file, keep only its weights: python -c "
            "\"import torch; ck = torch.load('IN', weights_only=False); "
            "torch.save(ck.get('state_dict', ck), 'OUT')\" and point "
            "BRRR_MODEL_CHECKPOINT_PATH at OUT"
        ) from exc
    except Exception as exc:
        raise ModelUnavailable(
            f"EEGPT checkpoint {path} is corrupt or truncated ({type(exc).__name__}: "
            f"{str(exc)[:160]}): download or copy it again"
        ) from exc


def _global_name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def encoder_state_from_checkpoint(content: Any) -> dict[str, torch.Tensor]:
    """The encoder weights of a loaded checkpoint, under EEGPT's own module names.

    Parameters
    ----------
    content : object
        What ``torch.load`` returned: a Lightning checkpoint (``{"state_dict": ...}``), a plain
        state dict with ``target_encoder.`` names (official or braindecode), or a plain state
        dict of the encoder alone (``summary_token``, ``blocks.0.attn.qkv.weight``...).

    Returns
    -------
    state : dict of str to torch.Tensor
        Float tensors converted to float32, keyed without the ``target_encoder.`` prefix.

    Raises
    ------
    ModelUnavailable
        When no encoder weights are found; the message lists what the file holds instead.
    """
    if not isinstance(content, Mapping):
        raise ModelUnavailable(
            f"EEGPT checkpoint holds a {type(content).__name__}, not a state dict: expected the "
            "official Lightning checkpoint or a state dict of the encoder"
        )
    state = content
    for wrapper in ("state_dict", "model", "module"):
        inner = state.get(wrapper)
        if isinstance(inner, Mapping):
            state = inner
            break
    tensors = {k: v for k, v in state.items() if isinstance(k, str) and torch.is_tensor(v)}

    encoder: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        at = key.find(ENCODER_PREFIX)
        if at == 0 or (at > 0 and key[at - 1] == "."):
            encoder[key[at + len(ENCODER_PREFIX) :]] = value
    if not encoder:
        for key, value in tensors.items():
            bare = key.removeprefix("module.")
            if bare.split(".")[0] in _ENCODER_TOP_LEVEL:
                encoder[bare] = value
    if not encoder:
        groups: dict[str, int] = {}
        for key in tensors:
            groups[key.split(".")[0]] = groups.get(key.split(".")[0], 0) + 1
        found = ", ".join(f"{g} ({n} tensors)" for g, n in sorted(groups.items())) or "no tensors"
        raise ModelUnavailable(
            "EEGPT checkpoint has no encoder weights: expected tensors under 'target_encoder.' "
            "(the official Lightning checkpoint) or the encoder's own names (summary_token, "
            f"patch_embed.proj.weight, blocks.N..., norm.weight); found {found}"
        )
    return {k: v.float() if v.is_floating_point() else v for k, v in encoder.items()}


def _describe_shape(state: Mapping[str, torch.Tensor]) -> str:
    """What architecture a state dict looks like, for error messages."""
    parts = []
    if "summary_token" in state and state["summary_token"].ndim == 3:
        parts.append(f"embed_num={state['summary_token'].shape[1]}")
        parts.append(f"embed_dim={state['summary_token'].shape[2]}")
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("blocks.")}
    if blocks:
        parts.append(f"depth={max(blocks) + 1}")
    return ", ".join(parts) or "an unknown shape"


def _check_state(
    model: nn.Module, state: Mapping[str, torch.Tensor], architecture: EEGPTArchitecture
) -> None:
    expected = model.target_encoder.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} (model: {tuple(expected[k].shape)})"
        # top-level tensors first: summary_token and chan_embed tell the shape at a glance
        for k in sorted(set(expected) & set(state), key=lambda k: (k.startswith("blocks."), k))
        if state[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if mismatched:
        problems.append(f"shapes differ for {len(mismatched)} keys: {'; '.join(mismatched[:6])}")
    if missing:
        problems.append(f"{len(missing)} keys missing: {', '.join(missing[:6])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {', '.join(unexpected[:6])}")
    raise ModelUnavailable(
        f"EEGPT checkpoint does not fit the encoder ({'; '.join(problems)}). The checkpoint looks "
        f"like {_describe_shape(state)}; the model is embed_num={architecture.embed_num}, "
        f"embed_dim={architecture.embed_dim}, depth={architecture.depth}: use the official "
        "large checkpoint (eegpt_mcae_58chs_4s_large4E.ckpt)"
    )


#: Windows in the example pass that traces the encoder (any batch size runs the trace).
TRACE_BATCH = 4


class _Traceable(nn.Module):
    """The encoder as ``torch.jit.trace`` sees it: braindecode's model answers ``hasattr``
    with a ValueError for its unset ``n_outputs``, which the tracer's export check does not
    catch."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.encoder = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


def _traced(model: nn.Module, n_channels: int, precision: Precision) -> nn.Module:
    """The encoder traced by TorchScript (sharing its weights), or the eager model where
    tracing fails.

    Why: an eager forward pass returns to Python between its ~150 operations and must take
    the GIL back each time. Beside a busy Python thread (a stream worker's event loop) each
    wait is up to the interpreter's 5 ms switch interval: 232 ms a window against 54 ms
    alone, measured here in bf16. The traced graph runs in C++ without the GIL (56 ms beside
    the same busy thread), with features at cosine 0.99999 to the eager model's.
    """
    if getattr(model, "_n_outputs", 0) is None:
        model._n_outputs = 0  # not used by the encoder's forward pass
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    example = torch.zeros((TRACE_BATCH, n_channels, WINDOW_SAMPLES), dtype=dtype)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python scalars
            traced = torch.jit.trace(_Traceable(model).eval(), example, check_trace=False)
            return traced
    except (RuntimeError, TypeError, ValueError) as exc:  # an operation TorchScript lacks
        warnings.warn(
            f"EEGPT runs eagerly ({precision}): TorchScript could not trace it ({exc})",
            RuntimeWarning,
            stacklevel=2,
        )
        return model


def read_encoder_state(path: Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file and return its EEGPT encoder weights (see the module notes).

    Parameters
    ----------
    path : Path
        The official Lightning checkpoint or a plain state dict.

    Returns
    -------
    state : dict of str to torch.Tensor
        Encoder weights keyed by EEGPT's module names, float32.

    Raises
    ------
    ModelUnavailable
        Missing, empty, truncated or non-torch file; unsafe pickled objects; no encoder weights.
    """
    return encoder_state_from_checkpoint(_torch_load(Path(path)))


class EEGPTFeatureExtractor:
    """EEGPT encoder bound to one channel list, turning window batches into feature vectors.

    Built by :func:`load_eegpt`. Attributes: ``weights_id`` (first 16 hex digits of the
    checkpoint file's sha256, or ``"random-dev"``), ``model_version``, ``precision`` (``"fp32"``
    or ``"int8"``), ``ch_names`` (the list it was built for), ``channels_used`` and
    ``channels_dropped`` (names as given), ``n_features``.
    """

    def __init__(
        self,
        *,
        encoder_state: dict[str, torch.Tensor],
        ch_names: Sequence[str],
        architecture: EEGPTArchitecture,
        weights_id: str,
        int8: bool = False,
        precision: Precision | None = None,
    ) -> None:
        positions, vocab, dropped = _split_channels(ch_names)
        if not positions:
            # The recording may still be fine for everything else: only EEGPT cannot use it.
            raise ModelUnavailable(
                f"none of the channels {list(ch_names)} is in EEGPT's channel vocabulary "
                "(10-10 names such as Fp1, Cz, O2), so EEGPT cannot run on this recording"
            )
        model = _build_model(vocab, architecture)
        _check_state(model, encoder_state, architecture)
        # assign=True shares the tensors, so extractors for other montages cost no copy.
        model.target_encoder.load_state_dict(encoder_state, strict=True, assign=True)
        model.eval()
        self._encoder_state = encoder_state
        self._positions = positions
        precision = precision or ("int8" if int8 else "fp32")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "int8":
            model = _quantize_int8(model)
        elif precision == "bf16":
            # The whole encoder in bfloat16 (its own copy of the weights): autocast cast
            # every weight again at every pass, 10 % of the time (features at cosine 0.99998
            # with fp32 either way).
            model = model.to(torch.bfloat16)
        self._eager = model  # the modules themselves, for inspection
        self._model = _traced(model, len(positions), precision)
        self._cache: dict[tuple[str, ...], EEGPTFeatureExtractor] = {}
        self.architecture = architecture
        self.ch_names: list[str] = list(ch_names)
        self.channels_used: list[str] = [self.ch_names[p] for p in positions]
        self.channels_dropped: list[str] = dropped
        self.weights_id = weights_id
        self.precision: Precision = precision
        self.model_version = f"braindecode-{_braindecode_version()}-eegpt"

    @property
    def n_features(self) -> int:
        """Length of one window's feature vector."""
        return self.architecture.n_features

    def with_channels(self, ch_names: Sequence[str]) -> EEGPTFeatureExtractor:
        """An extractor for another montage, sharing these weights (cached per channel list).

        Parameters
        ----------
        ch_names : sequence of str
            The channel names of the other recording.

        Returns
        -------
        extractor : EEGPTFeatureExtractor
            ``self`` when the list is the same.
        """
        key = tuple(ch_names)
        if list(key) == self.ch_names:
            return self
        if key not in self._cache:
            self._cache[key] = EEGPTFeatureExtractor(
                encoder_state=self._encoder_state,
                ch_names=key,
                architecture=self.architecture,
                weights_id=self.weights_id,
                precision=self.precision,
            )
        return self._cache[key]

    def _check_batch(self, batch: WindowBatch) -> None:
        if abs(batch.sfreq_hz - MODEL_SFREQ_HZ) > 1e-6:
            raise WrongSamplingRate(
                f"EEGPT needs windows sampled at {MODEL_SFREQ_HZ:g} Hz; this batch is at "
                f"{batch.sfreq_hz:g} Hz: resample the recording to {MODEL_SFREQ_HZ:g} Hz "
                "before cutting windows"
            )
        if batch.data_uv.shape[2] != WINDOW_SAMPLES:
            raise WrongSamplingRate(
                f"EEGPT needs windows of {WINDOW_SAMPLES} samples (4 s at 256 Hz); this batch "
                f"has {batch.data_uv.shape[2]} samples per window: cut 4 s windows"
            )
        if batch.ch_names != self.ch_names:
            raise ModelUnavailable(
                f"this EEGPT extractor was built for channels {self.ch_names}, the batch has "
                f"{batch.ch_names}: use extractor.with_channels(batch.ch_names)"
            )
        check_finite(batch.data_uv, batch.ch_names, "the windows given to EEGPT")

    def extract(self, batch: WindowBatch, *, batch_size: int = 8) -> np.ndarray:
        """Feature vectors of every window of a batch.

        Parameters
        ----------
        batch : WindowBatch
            Windows at 256 Hz of 1024 samples, in microvolts, with the channel list this
            extractor was built for (see :meth:`with_channels`).
        batch_size : int
            Windows per forward pass.

        Returns
        -------
        features : np.ndarray, shape (n_windows, n_features), float32
            Summary tokens averaged over the 16 time patches, the tokens concatenated.

        Raises
        ------
        WrongSamplingRate
            Not 256 Hz or not 1024 samples per window.
        NonFiniteSamples
            NaN or infinite samples.
        ModelUnavailable
            The batch's channel list differs from the extractor's.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._check_batch(batch)
        out = np.empty((batch.n_windows, self.n_features), dtype=np.float32)
        # bf16: the encoder's arithmetic in bfloat16 (fast on CPUs with AMX / AVX-512 BF16).
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        with torch.inference_mode():
            for start in range(0, batch.n_windows, batch_size):
                chunk = batch.data_uv[start : start + batch_size][:, self._positions, :]
                x_mv = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32) / UV_PER_MV)
                tokens = self._model(x_mv.to(dtype))  # (windows, patches, summary tokens, dim)
                out[start : start + len(chunk)] = tokens.float().mean(dim=1).flatten(1).numpy()
        return out


def load_eegpt(
    checkpoint_path: Path | None,
    *,
    ch_names: Sequence[str],
    allow_random_weights: bool = False,
    int8: bool = False,
    n_threads: int | None = None,
    architecture: EEGPTArchitecture = EEGPT_LARGE,
    precision: Precision | None = None,
) -> EEGPTFeatureExtractor:
    """Load EEGPT's encoder for a channel list.

    Parameters
    ----------
    checkpoint_path : Path or None
        The official Lightning checkpoint or a plain state dict (see the module notes).
    ch_names : sequence of str
        The recording's channel names; those outside EEGPT's vocabulary are dropped and
        reported in ``channels_dropped``.
    allow_random_weights : bool
        Development only: with no checkpoint, use random weights (seed
        :data:`RANDOM_DEV_SEED`, ``weights_id == "random-dev"``). Their features mean nothing.
    int8 : bool
        Dynamic int8 quantization of the linear layers (about 3x faster on CPU); the same as
        ``precision="int8"``.
    n_threads : int or None
        torch intra-op threads (``torch.set_num_threads``), default 2.
    architecture : EEGPTArchitecture
        Encoder shape, the published large model by default.
    precision : {"fp32", "bf16", "int8"} or None
        Arithmetic of inference; ``bf16`` runs the encoder in bfloat16 (fast where the CPU has
        AMX or AVX-512 BF16, see :func:`resolve_precision`). None: ``int8`` when ``int8`` is set,
        else ``fp32``.

    Returns
    -------
    extractor : EEGPTFeatureExtractor

    Raises
    ------
    ModelUnavailable
        No checkpoint configured (and random weights not allowed), a missing, corrupt,
        unsafe or mismatched checkpoint, or no channel in EEGPT's vocabulary; the message
        says which and what to do.
    """
    torch.set_num_threads(n_threads or DEFAULT_N_THREADS)
    if checkpoint_path is None:
        if not allow_random_weights:
            raise ModelUnavailable(
                "no checkpoint configured for EEGPT, so the feature stage is skipped: set "
                "BRRR_MODEL_CHECKPOINT_PATH to the official eegpt_mcae_58chs_4s_large4E.ckpt "
                "(or, for development only, BRRR_ALLOW_RANDOM_WEIGHTS=true)"
            )
        state = _random_dev_state(architecture)
        weights_id = RANDOM_DEV_WEIGHTS_ID
    else:
        path = Path(checkpoint_path)
        state = read_encoder_state(path)
        weights_id = content_id(path)  # the first 16 hex digits of its sha256
    return EEGPTFeatureExtractor(
        encoder_state=state,
        ch_names=ch_names,
        architecture=architecture,
        weights_id=weights_id,
        int8=int8,
        precision=precision,
    )


def cpu_supports_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bfloat16 natively (AMX or AVX-512 BF16), from the flags
    of ``/proc/cpuinfo`` (False where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = {
        flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()
    }
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def resolve_precision(setting: str, *, bf16_native: bool | None = None) -> Precision:
    """The precision a setting asks for: ``auto`` is ``bf16`` on a CPU that multiplies
    bfloat16 natively and ``int8`` elsewhere; the others are taken as they are."""
    if setting == "auto":
        native = cpu_supports_bf16() if bf16_native is None else bf16_native
        return "bf16" if native else "int8"
    if setting not in PRECISIONS:
        raise ValueError(f"EEGPT precision must be auto or one of {PRECISIONS}, got {setting!r}")
    return setting  # type: ignore[return-value]


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.maximum(norms, np.finfo(np.float64).tiny)


def feature_fidelity(
    fp32: np.ndarray,
    int8: np.ndarray,
    *,
    probe: SupportsPredictProba | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """How close int8 features are to fp32 features of the same windows and weights.

    Parameters
    ----------
    fp32, int8 : np.ndarray, shape (n_windows, n_features)
        Features of the same windows from the fp32 and the int8 extractor.
    probe : object with ``predict_proba(features)``, optional
        A scorer trained on fp32 features; adds the agreement of its verdicts.
    threshold : float
        Probability from which a window is called abnormal.

    Returns
    -------
    fidelity : dict
        ``n_windows``, ``mean_cosine``, ``min_cosine`` (per-window cosine similarity),
        ``mean_centred_cosine`` (the same after subtracting the fp32 mean feature vector of the
        windows: the fidelity of what differs between windows) and ``relative_l2`` (mean of
        ||int8 - fp32|| / ||fp32||); with a probe also
        ``verdict_agreement`` (fraction of windows with the same verdict) and
        ``max_probability_difference``.
    """
    fp32 = np.asarray(fp32)
    int8 = np.asarray(int8)
    if fp32.shape != int8.shape or fp32.ndim != 2:
        raise ValueError(f"feature arrays must match, got {fp32.shape} and {int8.shape}")
    if len(fp32) == 0:
        raise ValueError("feature_fidelity needs at least one window")
    cos = _cosine_rows(fp32, int8)
    # The part of the features shared by all windows can dominate the plain cosine (with
    # random weights it does); the centred cosine measures the window-dependent part alone.
    centre = fp32.mean(axis=0, dtype=np.float64)
    centred = _cosine_rows(fp32 - centre, int8 - centre)
    rel = np.linalg.norm(int8 - fp32, axis=1) / np.maximum(np.linalg.norm(fp32, axis=1), 1e-30)
    result: dict[str, float] = {
        "n_windows": float(len(fp32)),
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "mean_centred_cosine": float(centred.mean()),
        "relative_l2": float(rel.mean()),
    }
    if probe is not None:
        p32 = probe.predict_proba(fp32)
        p8 = probe.predict_proba(int8)
        result["verdict_agreement"] = float(np.mean((p32 >= threshold) == (p8 >= threshold)))
        result["max_probability_difference"] = float(np.max(np.abs(p32 - p8)))
    return result
