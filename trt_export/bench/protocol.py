"""The worker protocol: every job the sweep's parent hands a worker process and every answer back.

A job travels as JOB.json (:func:`encode_job` / :func:`decode_job`), its answer as RESULT.json
(:func:`encode_result` / :func:`decode_result`); both are JSON through one ``cattrs.Converter``,
with a ``kind`` tag naming the job or result type. :class:`~trt_export.infer.backends.BackendSettings`,
:class:`~trt_export.bench.timing.TimingPolicy` and the scene's
:class:`~trt_export.bench.scene.SceneSettings` cross as themselves. Figures whose vocabulary has
another owner (the environment fingerprint, parity summary, TensorRT coverage, FLOPs, roofs,
agreement) cross as that owner's ``to_dict()``.

Jobs are transient files between one parent and its workers, so the format carries no version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cattrs
from cattrs.strategies import configure_tagged_union

from trt_export.bench.scene import SceneSettings
from trt_export.bench.timing import TimingPolicy, TimingSummary
from trt_export.errors import TrtExportError
from trt_export.infer.backends import BackendSettings

DEFAULT_LOCK_WAIT_S = 600.0  # how long a prepare job waits for another process exporting the same entry


# --- jobs ------------------------------------------------------------------------------------------


class _JobKind:
    """What the parent knows of a job type before it has an answer (class attributes, not fields)."""

    KIND: ClassVar[str]  # the tag in JOB.json
    FIRST_STAGE: ClassVar[str] = "build"  # the step named when the worker dies before recording one
    WHOLE_PHASE: ClassVar[str | None] = None  # the phase its whole run counts as (None: its own phases_s)


@dataclass(frozen=True)
class SourceSpec:
    """The model source a worker loads (trt_export.model.sources.load_source's arguments)."""

    spec: str
    weights: str | None = None
    kwargs: dict[str, Any] | None = None
    model_type: str | None = None


@dataclass(frozen=True)
class RoofRequest:
    """One CPU backend's matmul roof to time in the idle worker (roof.py)."""

    settings: BackendSettings
    n: int


@dataclass(frozen=True)
class IdleJob(_JobKind):
    """Import Paddle, report the RSS baseline and the environment (and, asked, the CPU roofs)."""

    KIND = "idle"
    FIRST_STAGE = "start-up"
    WHOLE_PHASE = "idle"
    roofs: list[RoofRequest] = field(default_factory=list)


@dataclass(frozen=True)
class PrepareJob(_JobKind):
    """Export at the fixed shape (unless cached) and save the dygraph reference on seeded inputs."""

    KIND = "prepare"
    FIRST_STAGE = "export"
    source: SourceSpec
    shape_nchw: list[int]
    format: str
    export_dir: Path
    reference: Path
    seed: int = 0
    flops: Path | None = None  # where the FLOPs count is cached; None: not counted
    exported: bool = False  # bench --exported: a ready export, never rewritten
    manifest_file: Path | None = None  # a ready PaddleRS deploy dir's manifest, written by the parent
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S


@dataclass(frozen=True)
class AgreementJob:
    """The agreement check's inputs: the dygraph labels (.npz) and the image groups they were made on."""

    reference: Path
    groups: list[list[str]]
    images: list[ReferenceImage]
    overlap: int
    merge: str


@dataclass(frozen=True)
class MeasureJob(_JobKind):
    """Build the predictor, check parity against the reference, time it, report its memory."""

    KIND = "measure"
    export_dir: Path
    reference: Path
    format: str
    settings: BackendSettings
    policy: TimingPolicy
    manifest_file: Path | None = None
    scene: SceneSettings | None = None  # bench --scene/--scene-image: the host-cost probe
    agreement: AgreementJob | None = None  # bench --agreement-images


@dataclass(frozen=True)
class SceneReferenceJob(_JobKind):
    """The dygraph model on each agreement image at native resolution, labels saved to ``out``."""

    KIND = "scene_reference"
    WHOLE_PHASE = "reference"
    source: SourceSpec
    export_dir: Path
    groups: list[list[str]]
    max_pixels: int
    out: Path


@dataclass(frozen=True)
class InterleaveJob(_JobKind):
    """gate --rerun: both exports' predictors in one process, timed blocks alternated (interleave.py)."""

    KIND = "interleave"
    baseline_export: Path
    current_export: Path
    settings: BackendSettings
    pairs: int
    block_ms: float
    warmup: int
    seed: int = 0
    clock: str = "wall"


Job = IdleJob | PrepareJob | MeasureJob | SceneReferenceJob | InterleaveJob


@dataclass(frozen=True)
class JobFile:
    """JOB.json: the job and what every job shares."""

    job: Job
    verbose: bool = False
    deadline: float | None = None  # time.monotonic() by which a timing loop must have stopped


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdleResult:
    KIND: ClassVar[str] = "idle"
    rss_mb: float
    environment: dict[str, Any]
    roofs: dict[str, dict[str, Any]] = field(default_factory=dict)  # backend -> Roof.to_dict() or {"error": ...}


@dataclass(frozen=True)
class PrepareResult:
    """What a prepare job reports about its export (or what a complete cache entry says)."""

    KIND: ClassVar[str] = "prepare"
    export_s: float
    model_type: str
    default_format: str
    flops: dict[str, Any] | None = None  # flops.FlopCount.to_dict()
    phases_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerMemory:
    """The measuring process's memory figures (MiB); bench turns them into the candidate's Memory."""

    peak_rss_mb: float
    rss_at_start_mb: float | None = None  # forked: the VmHWM inherited from the server
    rss_refaulted_mb: float | None = None  # forked: library pages faulted in again
    gpu_peak_mb: float | None = None
    paddle_allocator_peak_mb: float | None = None


@dataclass(frozen=True)
class MeasureResult:
    KIND: ClassVar[str] = "measure"
    samples_s: list[float]
    parity: dict[str, Any]  # ParitySummary.to_dict()
    memory: WorkerMemory
    timing: TimingSummary
    build_s: float | None = None
    convert_s: float | None = None
    trt_coverage: dict[str, Any] | None = None  # TrtCoverage.to_dict()
    warnings: list[str] = field(default_factory=list)
    phases_s: dict[str, float] = field(default_factory=dict)
    scene_probe: dict[str, Any] | None = None  # scene_worker.probe_host_cost
    agreement: dict[str, Any] | None = None  # AgreementSummary.to_dict()


@dataclass(frozen=True)
class ReferenceImage:
    """One agreement image (group) the dygraph reference was made on."""

    image: str
    window: list[int]  # x, y, w, h
    note: str | None = None


@dataclass(frozen=True)
class SceneReferenceResult:
    KIND: ClassVar[str] = "scene_reference"
    images: list[ReferenceImage]


@dataclass(frozen=True)
class InterleaveResult:
    KIND: ClassVar[str] = "interleave"
    base_blocks: list[list[float]]
    cur_blocks: list[list[float]]
    base_first: list[bool]
    block_iters: int


@dataclass(frozen=True)
class WorkerFailure:
    """A job that failed inside the worker: the step, the reason, and whether every candidate would."""

    KIND: ClassVar[str] = "error"
    stage: str
    reason: str
    fatal: bool = False  # the model source, the inputs or the backend: the sweep stops (exit 2)


Result = IdleResult | PrepareResult | MeasureResult | SceneReferenceResult | InterleaveResult
Outcome = Result | WorkerFailure


@dataclass(frozen=True)
class Clock:
    """CLOCK_MONOTONIC stamps: the worker ready to run the job, and done."""

    ready: float
    end: float


@dataclass(frozen=True)
class ResultFile:
    """RESULT.json: the job's result or failure, with the worker's clock stamps."""

    outcome: Outcome
    clock: Clock | None = None


# --- the converter ---------------------------------------------------------------------------------

_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_unstructure_hook(Path, str)
_converter.register_structure_hook(Path, lambda value, _: Path(value))


def _kind(cls: type) -> str:
    return str(getattr(cls, "KIND"))  # noqa: B009 - every job and result class declares its tag


for _union in (Job, Outcome):
    configure_tagged_union(_union, _converter, tag_generator=_kind, tag_name="kind")


class ProtocolError(ValueError):
    """A job or result file that is not what this version of the worker protocol writes."""


def _describe(exc: BaseException, type_: Any) -> str:
    """cattrs' wording, but a tagged union's KeyError is the tag that is missing or unknown."""
    from cattrs.v import format_exception

    if isinstance(exc, KeyError) and type_ in (Job, Outcome):
        tag = exc.args[0] if exc.args else None
        return "no 'kind' tag" if tag == "kind" else f"unknown kind {tag!r}"
    if isinstance(exc, TrtExportError):  # a dataclass's own check (__post_init__), already one line
        return str(exc)
    return format_exception(exc, type_)


def _decode(text: str, cls: type, what: str) -> Any:
    try:
        return _converter.structure(json.loads(text), cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        detail = (
            "; ".join(cattrs.transform_error(exc, format_exception=_describe))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise ProtocolError(f"not a {what} of this trt-export version: {detail}") from None


def encode_job(job: JobFile) -> str:
    return json.dumps(_converter.unstructure(job, JobFile))


def decode_job(text: str) -> JobFile:
    return _decode(text, JobFile, "worker job")  # type: ignore[no-any-return]


def encode_result(result: ResultFile) -> str:
    return json.dumps(_converter.unstructure(result, ResultFile))


def decode_result(text: str) -> ResultFile:
    return _decode(text, ResultFile, "worker result")  # type: ignore[no-any-return]
