"""Keys of the sweep's caches: exports and dygraph reference outputs.

An entry is reused only when everything it depends on is the same; the key is a SHA-256 over
those things, so a changed input gives another entry (entries are never overwritten in place):

- an export depends on the source (kind, spec, factory kwargs, weights path and bytes, the init
  seed of random weights), the code that defines the factory, a PaddleRS training dir's model.yml,
  ``--model-type``, the fixed NCHW shape, ``--format``, trt-export's and Paddle's versions;
- a reference (seeded inputs and the dygraph model's outputs on them) depends on the same source,
  code and model.yml, the shape, the seed, the versions, and the device the dygraph model ran on
  (a CUDA build runs it on the GPU), but not on the export format: legacy and PIR exports of one
  model share one reference.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trt_export import __version__
from trt_export.model.shapes import FixedShape
from trt_export.model.sources import ModelSource, sha256_file

# Bump when what the reference .npz holds or how its inputs are made changes.
REFERENCE_FORMAT = 1


# Fingerprints learnt where the factory's module was imported anyway (a forked probe, source_probe.py),
# so the sweep's own process need not import it (and Paddle with it) to key its cache.
_KNOWN_CODE: dict[str, str | None] = {}


def remember_code_fingerprint(spec: str, fingerprint: str | None) -> None:
    _KNOWN_CODE[spec] = fingerprint


def forget_code_fingerprint(spec: str) -> None:
    """The next key hashes the factory's file again (a sweep that loaded the source itself)."""
    _KNOWN_CODE.pop(spec, None)


def code_fingerprint(spec: str) -> str | None:
    """Hash of the file defining a factory, so editing the model's code invalidates cached exports."""
    if spec in _KNOWN_CODE:
        return _KNOWN_CODE[spec]
    if ":" not in spec or Path(spec).exists():
        return None
    module_name, attr = spec.split(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
        path = inspect.getsourcefile(target)
    except (ImportError, AttributeError, TypeError):
        return None
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _model_yml_fingerprint(source: ModelSource) -> str | None:
    """A PaddleRS training dir is rebuilt from its model.yml: editing it changes the network."""
    if source.kind != "paddlers":
        return None
    path = Path(source.spec) / "model.yml"
    return sha256_file(path) if path.is_file() else None


def _source_identity(source: ModelSource) -> dict[str, Any]:
    return {
        "source": source.describe(),
        "code": code_fingerprint(source.spec) if source.kind == "factory" else None,
        "model_yml": _model_yml_fingerprint(source),
    }


def _digest(identity: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def export_cache_key(source: ModelSource, shape: FixedShape, model_format: str, paddle_version: str) -> str:
    """Same source (spec, kwargs, weights bytes, model code, model.yml) + shape + format -> same export."""
    identity = {
        **_source_identity(source),
        "model_type": source.model_type,
        "shape": list(shape.nchw),
        "format": model_format,
        "tool": __version__,
        "paddle": paddle_version,
    }
    # Keys written before model.yml was part of them stay valid for factories (no model.yml).
    if identity["model_yml"] is None:
        del identity["model_yml"]
    return _digest(identity)


def reference_cache_key(source: ModelSource, shape: FixedShape, seed: int, environment: Mapping[str, Any]) -> str:
    """Same source + shape + seed + Paddle + device -> the same dygraph outputs."""
    identity = {
        **_source_identity(source),
        "shape": list(shape.nchw),
        "seed": int(seed),
        "tool": __version__,
        "reference_format": REFERENCE_FORMAT,
        "paddle": environment.get("paddle_version"),
        "paddle_commit": environment.get("paddle_commit"),
        # dygraph runs on the GPU on a CUDA build with a GPU, else on the CPU
        "device": "gpu" if environment.get("cuda_version") and environment.get("gpu_count") else "cpu",
        "gpu": environment.get("gpu_name") if environment.get("gpu_count") else None,
    }
    return _digest(identity)


def reference_path(
    cache_dir: Path, source: ModelSource, shape: FixedShape, seed: int, environment: Mapping[str, Any]
) -> Path:
    return (
        Path(cache_dir) / "references" / f"{reference_cache_key(source, shape, seed, environment)}-seed{int(seed)}.npz"
    )
