"""Loading the models that ``processors.analyze`` needs, from the one settings object.

Processors never read configuration; this is where the settings become loaded models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from connectors.db.workers import ModelState
from connectors.settings import Settings
from processors.analyze import AnalysisOptions
from processors.errors import ModelUnavailable
from processors.montage import STANDARD_1020_19

log = logging.getLogger(__name__)


def build_options(
    settings: Settings,
    ch_names: Sequence[str],
    *,
    analysis_type: str,
    torch_threads: int | None = None,
) -> AnalysisOptions:
    """EEGPT extractor and abnormality probe for a recording with these channels.

    A missing or broken checkpoint does not stop the analysis: the feature stage is
    ``skipped`` with the reason, and abnormality falls back to the qEEG baseline. torch
    runs ``torch_threads`` threads (``settings.eegpt_threads`` by default).
    """
    options = AnalysisOptions()
    if analysis_type == "quick":
        options.feature_unavailable_reason = "not part of the quick analysis"
        return options
    from processors.features import load_eegpt

    try:
        options.feature_extractor = load_eegpt(
            settings.model_checkpoint_path,
            ch_names=ch_names,
            allow_random_weights=settings.allow_random_weights,
            precision=eegpt_precision(settings),
            n_threads=torch_threads or settings.eegpt_threads,
        )
        options.feature_unavailable_reason = None
    except ModelUnavailable as exc:
        options.feature_unavailable_reason = str(exc)
        log.warning("EEGPT unavailable: %s", exc)
    if settings.probe_path is not None and options.feature_extractor is not None:
        from processors.probe import load_probe

        try:
            # A probe trained on other EEGPT weights would score meaningless features.
            options.probe = load_probe(
                settings.probe_path, expected_weights_id=options.feature_extractor.weights_id
            )
        except ModelUnavailable as exc:
            log.warning("abnormality probe unavailable, using the qEEG baseline: %s", exc)
    return options


def eegpt_precision(settings: Settings) -> str:
    """The EEGPT precision the settings ask for, ``auto`` resolved for this CPU."""
    from processors.features import resolve_precision

    if settings.eegpt_precision is None:
        return "int8" if settings.eegpt_int8 else "fp32"
    return resolve_precision(settings.eegpt_precision)


class ModelCache:
    """EEGPT and the abnormality probe, loaded once per worker process and bound to each
    recording's channels (the weights are shared between montages).

    Loading is retried on the next request after a failure, so a checkpoint put in place
    later is picked up without a restart. The worker asks from several threads at once (its
    heartbeat, the window agent, the finisher): one of them loads and the others wait, so the
    model is built once, not once per thread (a load is seconds of both cores).
    """

    def __init__(self, settings: Settings, *, torch_threads: int | None = None) -> None:
        self.settings = settings
        #: torch threads of the loaded model (``settings.eegpt_threads`` when None)
        self.torch_threads = torch_threads
        #: after a failed load, how long the reason is reused before the next try
        self.retry_after_s = settings.model_retry_s
        self._base: AnalysisOptions | None = None
        self._failed: tuple[float, AnalysisOptions] | None = None
        self._loading = threading.Lock()

    def state(self) -> tuple[ModelState, str | None]:
        """Whether EEGPT is loaded (``ready``), could not be (``failed``, with the reason)
        or is not asked for (``not_configured``). Tries to load it when it is not loaded
        (at most once per ``model_retry_s`` after a failure)."""
        if self.settings.model_checkpoint_path is None and not self.settings.allow_random_weights:
            return "not_configured", None
        if self._base is not None:  # loaded: nothing to try (and nothing to bind)
            return "ready", None
        options = self.options_for(STANDARD_1020_19, "screening")
        if self._base is not None:
            return "ready", None
        return "failed", options.feature_unavailable_reason

    def options_for(self, ch_names: Sequence[str], analysis_type: str) -> AnalysisOptions:
        """The options ``processors.analyze`` needs for a recording with these channels."""
        if analysis_type == "quick":
            return build_options(self.settings, ch_names, analysis_type="quick")
        base = self._base if self._base is not None else self._load(ch_names, analysis_type)
        if base.feature_extractor is None:  # the load failed: its options say why
            return base
        options = AnalysisOptions(probe=base.probe, feature_unavailable_reason=None)
        try:
            options.feature_extractor = base.feature_extractor.with_channels(ch_names)
        except ModelUnavailable as exc:
            options.feature_unavailable_reason = str(exc)
        return options

    def _load(self, ch_names: Sequence[str], analysis_type: str) -> AnalysisOptions:
        """The loaded base options, or the failed load's (with the reason): one thread
        loads while the others wait for it."""
        with self._loading:
            if self._base is not None:  # another thread loaded it while this one waited
                return self._base
            now = time.monotonic()
            if self._failed is not None and now - self._failed[0] < self.retry_after_s:
                return self._failed[1]
            base = build_options(
                self.settings,
                ch_names,
                analysis_type=analysis_type,
                torch_threads=self.torch_threads,
            )
            if base.feature_extractor is None:
                self._failed = (now, base)  # tried again after retry_after_s
                return base
            self._base, self._failed = base, None
            return base
