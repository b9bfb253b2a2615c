"""``bench --devices 0,1,2,3``: which candidate runs on which GPU, and whether that is allowed.

Pure functions on plain data (the environment probe is passed in), so the planning is tested
without GPUs. Each candidate's worker processes see only their device: their environment gets
``CUDA_VISIBLE_DEVICES`` set to it, and the predictor then uses device 0 of what it sees.

On CPU backends there is no device to give each candidate: parallel candidates share the cores,
the caches and the memory bandwidth, so every latency would include the others' work. That is
refused unless ``--allow-parallel-cpu-timing`` says the user wants it anyway (the ids are then
only worker slots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trt_export.errors import TrtExportError
from trt_export.infer.backends import CPU_BACKENDS, EnvironmentProbe
from trt_export.scale.shards import plan_shards

ALLOW_CPU_FLAG = "--allow-parallel-cpu-timing"


def parse_devices(text: str) -> tuple[int, ...]:
    """``0,1,2,3`` -> (0, 1, 2, 3): non-negative integers, no repeats."""
    parts = [part.strip() for part in (text or "").split(",")]
    if not parts or any(not part.isdigit() for part in parts):
        raise TrtExportError(f"--devices must be comma-separated GPU ids such as 0,1,2,3, got {text!r}")
    devices = tuple(int(part) for part in parts)
    repeated = sorted({d for d in devices if devices.count(d) > 1})
    if repeated:
        raise TrtExportError(f"--devices names GPU {repeated[0]} more than once; give each GPU once")
    return devices


def check_devices(devices: Sequence[int], backend: str, probe: EnvironmentProbe, allow_parallel_cpu: bool) -> None:
    """Refuse, in one line, devices this machine lacks and parallel timing on the CPU."""
    if backend in CPU_BACKENDS:
        if len(devices) > 1 and not allow_parallel_cpu:
            raise TrtExportError(
                f"--devices runs {len(devices)} candidates at once, but {backend} times on the CPU, where they would share "
                f"cores, caches and memory bandwidth and every latency would include the others' work; drop --devices, "
                f"use a GPU backend, or pass {ALLOW_CPU_FLAG} to run them in parallel anyway (figures then not comparable "
                "with a sequential run)"
            )
        return
    count = probe.gpu_count if probe.cuda_compiled else 0
    missing = [d for d in devices if d >= count]
    if missing:
        if count == 0:
            seen = "Paddle sees no GPU here" + ("" if probe.cuda_compiled else " (a CPU build of Paddle)")
        else:
            seen = f"Paddle sees {count} GPU(s) here (ids 0-{count - 1})"
        raise TrtExportError(
            f"--devices names GPU {missing[0]}, but {seen}; name existing GPUs (see 'trt-export doctor')"
        )
    names = {probe.gpu_names[d] for d in devices if d < len(probe.gpu_names)}
    if len(names) > 1:
        raise TrtExportError(
            f"--devices mixes GPU models ({', '.join(sorted(names))}): one report's timings must come from one kind of GPU; "
            "name GPUs of one model, or sweep each model separately"
        )


def plan_devices(labels: Sequence[str], devices: Sequence[int]) -> dict[int, list[str]]:
    """Candidate labels per device, each device's list in sweep order.

    Deterministic (largest input first, to the least loaded device), so a candidate lands on the
    same GPU in every run of the same sweep, and a gate compares like with like.
    """
    parts = plan_shards(labels, len(devices))
    return {device: part for device, part in zip(devices, parts, strict=True)}


def visible_devices(device: int, environ: Mapping[str, str]) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value that shows a worker only ``device``.

    Ids count within the parent's own ``CUDA_VISIBLE_DEVICES`` when it is set (as Paddle's
    device count does), so ``CUDA_VISIBLE_DEVICES=2,3 ... --devices 1`` runs on physical GPU 3.
    """
    parent = environ.get("CUDA_VISIBLE_DEVICES")
    if parent is None or not parent.strip():
        return str(device)
    entries = [entry.strip() for entry in parent.split(",") if entry.strip()]
    if device >= len(entries):
        raise TrtExportError(
            f"--devices names GPU {device}, but CUDA_VISIBLE_DEVICES={parent!r} shows only {len(entries)}"
        )
    return entries[device]
