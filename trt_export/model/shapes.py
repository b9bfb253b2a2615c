"""Fixed input shapes: parsing the seed's notation and checking model-type rules.

PaddleRS's export guide writes shapes as ``[w,h]`` or ``[n,c,w,h]``: width before height.
Tensors are NCHW, so ``[n,c,w,h]`` becomes the tensor shape ``(n, c, h, w)``. Everything after
parsing works with :class:`FixedShape`, which stores the NCHW tensor dims by name, so no other
module has to remember which notation a list of four numbers is in.

Note: PaddleRS's own ``export_model.py`` places the two numbers of ``[w,h]`` into the H,W slots of
its InputSpec, contrary to its docs. Square shapes are unaffected; for non-square ones we follow
the documented meaning and always print the exact NCHW tensor shape that was fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trt_export.errors import ShapeError
from trt_export.model.types import shape_rule_for

ALLOWED_FORMS = "'[w,h]' (batch 1, 3 channels) or '[n,c,w,h]', positive integers, comma-separated, no spaces, e.g. [512,512] or [1,3,512,512]"

_SHAPE_RE = re.compile(r"^\[(.*)\]$")
_INT_RE = re.compile(r"^[0-9]+$")


@dataclass(frozen=True, order=True)
class FixedShape:
    """A fully fixed NCHW input shape."""

    n: int
    c: int
    h: int
    w: int

    @property
    def nchw(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def seed_notation(self) -> str:
        """The shape as the seed writes it: [n,c,w,h]."""
        return f"[{self.n},{self.c},{self.w},{self.h}]"

    @property
    def label(self) -> str:
        """Short NCHW label used as a key in reports and file names: 1x3x512x512."""
        return "x".join(str(d) for d in self.nchw)

    @property
    def pixels(self) -> int:
        """Input pixels per batch (n*h*w), the x axis of size plots."""
        return self.n * self.h * self.w

    @property
    def paddlers_script_nchw(self) -> tuple[int, int, int, int]:
        """The NCHW tensor PaddleRS's own export_model.py fixes for the same flag: it puts [w,h] in the H,W slots."""
        return (self.n, self.c, self.w, self.h)

    def describe(self) -> str:
        return f"NCHW tensor {list(self.nchw)} (seed notation [n,c,w,h] = {self.seed_notation})"

    def with_batch(self, n: int) -> FixedShape:
        return FixedShape(n, self.c, self.h, self.w)

    @classmethod
    def from_nchw(cls, dims: list[int] | tuple[int, ...]) -> FixedShape:
        if len(dims) != 4 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
            raise ShapeError(f"not a fixed NCHW shape: {list(dims)!r}; need four positive integers")
        n, c, h, w = dims
        return cls(n, c, h, w)

    @classmethod
    def from_label(cls, label: str) -> FixedShape:
        parts = label.split("x")
        if len(parts) != 4 or not all(_INT_RE.match(p) for p in parts):
            raise ShapeError(f"not a shape label: {label!r}; expected NxCxHxW such as 1x3x512x512")
        return cls.from_nchw([int(p) for p in parts])


def parse_fixed_shape(text: str | None, default_channels: int = 3) -> FixedShape:
    """Parse ``[w,h]`` or ``[n,c,w,h]`` strictly; raise ShapeError quoting the input otherwise."""
    if text is None or not str(text).strip():
        raise ShapeError(f"a fixed input shape is required: give --fixed-input-shape as {ALLOWED_FORMS}")
    raw = str(text)
    if any(ch.isspace() for ch in raw):
        raise ShapeError(f"fixed input shape {raw!r} contains whitespace; use {ALLOWED_FORMS}")
    match = _SHAPE_RE.match(raw)
    body = match.group(1) if match else raw  # brackets are optional on the command line
    items = body.split(",")
    bad = [item for item in items if not _INT_RE.match(item)]
    if bad:
        what = (
            "a negative value (the shape is fixed: no -1)" if any(b.startswith("-") for b in bad) else "a non-integer"
        )
        raise ShapeError(f"fixed input shape {raw!r} has {what}: {bad[0]!r}; use {ALLOWED_FORMS}")
    values = [int(item) for item in items]
    if len(values) not in (2, 4):
        raise ShapeError(f"fixed input shape {raw!r} has {len(values)} values; use {ALLOWED_FORMS}")
    if any(v == 0 for v in values):
        raise ShapeError(f"fixed input shape {raw!r} has a zero; every dimension must be positive; use {ALLOWED_FORMS}")
    if len(values) == 2:
        w, h = values
        return FixedShape(1, default_channels, h, w)
    n, c, w, h = values
    return FixedShape(n, c, h, w)


def check_model_rules(shape: FixedShape, model_name: str | None) -> None:
    """Apply the shape rule of the model's family (model.types.SHAPE_RULES) before any export work starts.

    - YOLO / PPYOLO: w == h, both multiples of 32.
    - R-CNN (FasterRCNN, MaskRCNN...): w and h multiples of 32.
    - BIT: every dimension positive (always true for a FixedShape, kept explicit for the record).
    """
    rule = shape_rule_for(model_name)
    if rule is None:
        return
    m = rule.multiple
    if rule.square and (shape.w != shape.h or shape.w % m or shape.h % m):
        side = _round_up(max(shape.w, shape.h), m)
        raise ShapeError(
            f"{model_name} needs w == h and both multiples of {m}, got w={shape.w}, h={shape.h}; try [{side},{side}]"
        )
    if not rule.square and (shape.w % m or shape.h % m):
        raise ShapeError(
            f"{model_name} needs w and h to be multiples of {m}, got w={shape.w}, h={shape.h}; "
            f"try [{_round_up(shape.w, m)},{_round_up(shape.h, m)}]"
        )
    if min(shape.nchw) <= 0:
        raise ShapeError(f"{rule.family} needs a fully positive fixed shape, got {list(shape.nchw)}")


def _round_up(value: int, multiple: int) -> int:
    return max(multiple, (value + multiple - 1) // multiple * multiple)
