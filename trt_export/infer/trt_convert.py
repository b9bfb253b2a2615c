"""PIR TensorRT: `paddle.tensorrt.convert` in a child process, its output reused from the cache.

`convert` builds the engines with the Python `tensorrt` package and keeps the model's weights in
`global_scope()` on GPU 0 afterwards (python/paddle/tensorrt/export.py): done in the measuring
process, that second resident copy of the weights would be counted in its GPU memory, and the
allocator's peak would be convert's warm-up, not the predictor's. So the runner runs convert as
``python -m trt_export.infer.trt_convert JOB.json RESULT.json`` and only loads what it wrote.

With a cache dir the converted program is kept under a key of everything that changes the engines
(program and weights, shape, precision, workspace, min subgraph size, ops kept out or run in fp32,
TensorRT version, GPU) and reused: a second activation costs a predictor load, not a convert.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backends import TrtConvertPlan
from trt_export.serial import converter

log = logging.getLogger(__name__)

DONE_MARKER = "convert_done.json"


def convert_in_process(
    plan: TrtConvertPlan, model_file: Path, params_file: Path, save_prefix: Path
) -> tuple[Path, Path]:
    """Run paddle.tensorrt.convert here; returns the written `<prefix>.json` / `<prefix>.pdiparams`."""
    from trt_export.infer.paddle_errors import translate_paddle_error

    try:
        from paddle.tensorrt.export import Input, PrecisionMode, TensorRTConfig, convert
    except Exception as exc:  # noqa: BLE001 - any import failure means no PIR TensorRT here
        raise BackendUnavailable(
            f"paddle.tensorrt cannot be imported ({type(exc).__name__}: {exc}); install the tensorrt "
            "Python package matching Paddle's TensorRT, or use --format legacy"
        ) from exc
    # min = opt = max = the fixed shape. convert() feeds each Input by its name (feed names, not
    # positions) to warmup runs that only collect shapes; INT8 does not calibrate from them.
    trt_inputs = [
        Input(
            min_input_shape=tuple(i.shape),
            optim_input_shape=tuple(i.shape),
            max_input_shape=tuple(i.shape),
            input_data_type=i.dtype,
            name=i.name,
        )
        for i in plan.inputs
    ]
    kwargs = plan.config_kwargs()
    kwargs["save_model_dir"] = str(save_prefix)
    save_prefix.parent.mkdir(parents=True, exist_ok=True)
    kwargs = _accepted_kwargs(TensorRTConfig, kwargs)
    # convert() hands a path naming an existing file straight to paddle.static.load_inference_model,
    # which in PIR mode always appends ".json" (python/paddle/static/pir_io.py,
    # load_inference_model_pir), so "model.json" would be read as "model.json.json". Paddle's own
    # tests (test/tensorrt/test_export.py) pass the prefix; convert then finds <prefix>.json and
    # always reads the weights from <prefix>.pdiparams.
    model_prefix = model_file.with_suffix("")
    if params_file != model_prefix.with_suffix(".pdiparams"):
        raise TrtExportError(
            f"paddle.tensorrt.convert reads the weights from {model_prefix.name}.pdiparams next to "
            f"{model_file.name}, but the manifest names {params_file.name}; re-export the model"
        )
    try:
        config = TensorRTConfig(inputs=trt_inputs, precision_mode=PrecisionMode[plan.precision], **kwargs)
        convert(str(model_prefix), config)
    except TrtExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
        raise translate_paddle_error(exc, "converting with paddle.tensorrt.convert") from exc
    out_model, out_params = converted_files(save_prefix)
    if not out_model.is_file() or not out_params.is_file():
        raise TrtExportError(
            f"paddle.tensorrt.convert reported success but wrote no {out_model.name}/{out_params.name} in {save_prefix.parent}"
        )
    return out_model, out_params


def _accepted_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drop keyword arguments an older TensorRTConfig does not take (its signature varies by release)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]  # cls is a class, not an instance
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    dropped = sorted(k for k in kwargs if k not in params)
    if dropped:
        log.warning("this Paddle's TensorRTConfig ignores %s", ", ".join(dropped))
    return {k: v for k, v in kwargs.items() if k in params}


def converted_files(save_prefix: Path) -> tuple[Path, Path]:
    return save_prefix.with_name(save_prefix.name + ".json"), save_prefix.with_name(save_prefix.name + ".pdiparams")


def cached_conversion(save_prefix: Path, key: str) -> tuple[Path, Path] | None:
    """The converted program of an earlier run with the same key, if complete."""
    marker = save_prefix.parent / DONE_MARKER
    out_model, out_params = converted_files(save_prefix)
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if done.get("key") != key or not out_model.is_file() or not out_params.is_file():
        return None
    # Engines are referenced by absolute path from the program; all must still be there.
    from trt_export.infer.trt_coverage import engine_files

    try:
        engines = engine_files(json.loads(out_model.read_text(encoding="utf-8")))
    except (OSError, ValueError, TrtExportError):
        return None
    if not all(engine and Path(engine).is_file() for engine in engines):
        return None
    return out_model, out_params


def mark_done(save_prefix: Path, key: str) -> None:
    (save_prefix.parent / DONE_MARKER).write_text(json.dumps({"key": key}), encoding="utf-8")


def convert_in_subprocess(
    plan: TrtConvertPlan, model_file: Path, params_file: Path, save_prefix: Path, timeout_s: float | None = None
) -> tuple[Path, Path]:
    """convert_in_process in a fresh interpreter; its one-line error comes back as a TrtExportError."""
    with tempfile.TemporaryDirectory(prefix="trt-export-convert-") as scratch:
        job = Path(scratch) / "job.json"
        result = Path(scratch) / "result.json"
        job.write_text(
            json.dumps(
                {
                    "plan": converter.unstructure(plan),
                    "model_file": str(model_file),
                    "params_file": str(params_file),
                    "save_prefix": str(save_prefix),
                }
            ),
            encoding="utf-8",
        )
        from trt_export.env.paddle_import import is_verbose

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
        verbose = is_verbose()
        if verbose:
            env["TRT_EXPORT_VERBOSE"] = "1"  # the child's Paddle/TensorRT logs go to our stderr
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "trt_export.infer.trt_convert", str(job), str(result)],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=not verbose,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise TrtExportError(f"paddle.tensorrt.convert took longer than {timeout_s:g} s") from None
        if not result.is_file():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise TrtExportError(f"paddle.tensorrt.convert crashed (exit {proc.returncode}): {tail[0][:300]}")
        data = json.loads(result.read_text(encoding="utf-8"))
    if "error" in data:
        cls = BackendUnavailable if data["error"].get("kind") == "unavailable" else TrtExportError
        raise cls(data["error"]["reason"])
    return Path(data["model_file"]), Path(data["params_file"])


def main(argv: list[str]) -> int:
    from trt_export.env.paddle_import import set_verbose

    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    set_verbose(bool(os.environ.get("TRT_EXPORT_VERBOSE")))
    try:
        model, params = convert_in_process(
            converter.structure(job["plan"], TrtConvertPlan),
            Path(job["model_file"]),
            Path(job["params_file"]),
            Path(job["save_prefix"]),
        )
        result: dict[str, Any] = {"model_file": str(model), "params_file": str(params)}
    except BackendUnavailable as exc:
        result = {"error": {"kind": "unavailable", "reason": str(exc)}}
    except TrtExportError as exc:
        result = {"error": {"kind": "error", "reason": str(exc)}}
    except Exception as exc:  # noqa: BLE001 - still one line for the parent
        result = {
            "error": {"kind": "error", "reason": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"}
        }
    Path(argv[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
