"""The ONNX route behind the runner interface: paddle2onnx's model of the export on ONNX Runtime.

`OnnxRuntimeRunner` takes the same export dir and manifest as `PaddleInferenceRunner`, converts
it once (onnx_convert.py, cached beside the export), and runs it with the providers and options
`onnx_plan.plan_session` chose. Inputs are checked against the manifest like every runner's;
outputs come back keyed by the manifest's logical names (paddle2onnx renames fetch targets to
`fetch_name_N`, in fetch order, so they are mapped by position). Nothing here imports Paddle
(the conversion runs in a child process), so a measuring worker's memory is ONNX Runtime's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.env.paddle_import import is_verbose
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.export.manifest import Manifest
from trt_export.export.onnx_convert import DEFAULT_OPSET, OnnxModel, ensure_onnx
from trt_export.infer.backends import BackendSettings, require_backend
from trt_export.infer.onnx_plan import SessionPlan, check_providers, plan_session, providers_arg, session_options
from trt_export.infer.runners import ExportRunner, Feed

log = logging.getLogger(__name__)


class OnnxRuntimeRunner(ExportRunner):
    """`build_seconds`: session creation (with TensorRT engine builds); `convert_seconds`: paddle2onnx, None when cached."""

    def __init__(
        self,
        export_dir: str | Path,
        manifest: Manifest | None,
        settings: BackendSettings,
        model_format: str | None = None,
        opset: int = DEFAULT_OPSET,
    ) -> None:
        if not settings.is_onnx:
            raise TrtExportError(f"{settings.backend} is not an ONNX Runtime backend; use PaddleInferenceRunner")
        super().__init__(export_dir, manifest, settings, model_format)
        self.opset = opset
        self.onnx: OnnxModel | None = None
        self.plan: SessionPlan | None = None
        self.build_seconds: float | None = None
        self.convert_seconds: float | None = None
        self._session: Any = None
        self._last_outputs: list[np.ndarray] | None = None
        self._last_feed: dict[str, np.ndarray] | None = None

    def convert(self) -> OnnxModel:
        """paddle2onnx once per export (cached); separate so a caller can tell conversion failures apart."""
        if self.onnx is None:
            require_backend(self.settings.backend, self.model_format)
            self.onnx = ensure_onnx(self.manifest, self.model_format, self.opset, verbose=is_verbose())
            self.convert_seconds = self.onnx.convert_s
        return self.onnx

    def _activate(self) -> None:
        import onnxruntime as ort  # type: ignore[import-not-found]

        model = self.convert()
        cache = None
        if self.settings.backend.startswith("onnx-trt"):
            cache_root = (
                Path(self.settings.trt_cache_dir) if self.settings.trt_cache_dir else model.path.parent / "trt-cache"
            )
            digest = hashlib.sha256(model.path.read_bytes()).hexdigest()[:16]
            cache = str(cache_root / f"onnx_{digest}")
            Path(cache).mkdir(parents=True, exist_ok=True)
        self.plan = plan_session(self.settings, cache)
        for note in self.plan.notes:
            log.info("%s: %s", self.name, note)
        start = time.perf_counter()
        try:
            session = ort.InferenceSession(
                str(model.path), sess_options=session_options(self.plan), providers=providers_arg(self.plan)
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise TrtExportError(
                f"onnxruntime cannot create the {self.name} session: {type(exc).__name__}: {first}"
            ) from exc
        check_providers(self.plan, list(session.get_providers()))
        self.build_seconds = time.perf_counter() - start
        have = [i.name for i in session.get_inputs()]
        missing = [s.name for s in self.input_specs if s.name not in have]
        if missing:
            raise TrtExportError(
                f"{self.name}: the ONNX model has inputs {have}, the manifest expects {missing}; delete {model.path.parent} and retry"
            )
        self._session = session

    def _deactivate(self) -> None:
        self._session = None
        self._last_outputs = None
        self._last_feed = None

    def _infer(self, feed: Feed) -> list[np.ndarray]:
        start = time.perf_counter()
        self._last_feed = {spec.name: np.ascontiguousarray(feed[spec.name]) for spec in self.input_specs}
        self._run()
        outputs = self.fetch_outputs()
        self._last_time = time.perf_counter() - start
        return outputs

    def _inputs_set(self) -> bool:
        return self._last_feed is not None

    def fetch_outputs(self) -> list[np.ndarray]:
        """The last run's outputs, already on the host (session.run copies them back)."""
        if self._last_outputs is None:
            raise TrtExportError(f"runner {self.name} has not run yet")
        return self._last_outputs

    def _run(self) -> None:
        assert self.onnx is not None
        try:
            self._last_outputs = [
                np.asarray(o) for o in self._session.run(list(self.onnx.output_names), self._last_feed)
            ]
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise TrtExportError(f"onnxruntime failed running {self.name}: {type(exc).__name__}: {first}") from exc


def create_runner(
    export_dir: str | Path, manifest: Manifest | None, settings: BackendSettings, model_format: str | None = None
) -> Any:
    """The runner for a backend: ONNX Runtime for onnx-*, Paddle Inference otherwise."""
    if settings.is_onnx:
        return OnnxRuntimeRunner(export_dir, manifest, settings, model_format=model_format)
    from trt_export.infer.runners import PaddleInferenceRunner

    return PaddleInferenceRunner(export_dir, manifest, settings, model_format=model_format)


__all__ = ["OnnxRuntimeRunner", "create_runner", "BackendUnavailable"]
