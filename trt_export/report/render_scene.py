"""The scene objective's part of the bench report: settings rows, the legend and plots (render.py calls these).

The scene and agreement columns of the table and CSV are metrics (bench/metrics.py); they appear
in the table only when the report has a scene or agreement, so a plain sweep's table is unchanged. Plots: scene seconds against tile size (scene.png) and label agreement / mIoU against
tile size (agreement.png).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trt_export.bench.metrics import has_agreement, has_scene, metric
from trt_export.bench.report import BenchReport, Candidate


def has_scene_columns(report: BenchReport) -> bool:
    """The table has scene or agreement columns (their cells come from the metric registry)."""
    return has_scene(report) or has_agreement(report)


def scene_settings_rows(report: BenchReport) -> list[list[Any]]:
    s = report.settings
    rows: list[list[Any]] = []
    if s.scene is not None:
        where = ", ".join(s.scene.images) if s.scene.images else "size only (--scene)"
        rows += [
            ["scene", f"{s.scene.width}x{s.scene.height} ({where})"],
            ["overlap / merge", f"{s.scene.overlap} px / {s.scene.merge}"],
        ]
    if s.min_agreement is not None:
        rows.append(["min agreement", f"{s.min_agreement:.2%}"])
    return rows


SCENE_NOTE = (
    "tiles: tiles per scene with the overlap (PaddleRS's placement); scene s: predicted seconds for the scene = "
    "batches x p50 batch latency + tiles x measured host cost per tile (read, preprocess, copies, merge, write); "
    "eff MP/s = scene pixels / scene s; agree %: pixels whose tiled label equals the dygraph model's at native "
    "resolution; mIoU: mean IoU of the tiled labels against those."
)


def write_scene_plots(report: BenchReport, out: Path, plt: Any, cands: list[Candidate]) -> list[Path]:
    paths = []
    if has_scene(report):
        paths.append(_plot(report, out / "scene.png", plt, cands, "scene"))
    if has_agreement(report):
        paths.append(_plot(report, out / "agreement.png", plt, cands, "agreement"))
    return paths


def _plot(report: BenchReport, path: Path, plt: Any, cands: list[Candidate], what: str) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    try:
        rec = report.recommendation
        if what == "scene":
            pts = _points(cands, "scene_s")
            ax.set_ylabel("predicted scene time (s)")
            scene = report.settings.scene
            size = f"{scene.width}x{scene.height}, overlap {scene.overlap}, {scene.merge}" if scene else "scene"
            ax.set_title(f"Scene time vs tile size ({size}): {report.model.name} on {report.backend}")
            for c, y in pts:
                assert c.scene is not None  # pts holds only candidates with a scene estimate
                band = y * c.scene.noise if c.scene else 0.0
                ax.errorbar([_side(c)], [y], yerr=[band], fmt="o", color="#1f77b4", capsize=4)
                ax.annotate(
                    f"{y:.2f} s\n{metric('scene_tiles').value(c)} tiles",
                    (_side(c), y),
                    textcoords="offset points",
                    xytext=(0, 10),
                    ha="center",
                    fontsize=8,
                )
        else:
            pts = _points(cands, "agreement_pct")
            ax.set_ylabel("label agreement with the native-resolution model (%)")
            ax.set_title(f"Tiling agreement vs tile size: {report.model.name} on {report.backend}")
            ax2 = ax.twinx()
            ax2.plot(
                [_side(c) for c, _ in pts],
                [metric("agreement_miou").value(c) for c, _ in pts],
                "s--",
                color="#ff7f0e",
                label="mIoU (right axis)",
            )
            ax2.set_ylabel("mIoU against the native-resolution labels")
            ax2.set_ylim(0, 1.02)
            ax2.legend(loc="lower right", fontsize=9)
            if report.settings.min_agreement is not None:
                ax.axhline(
                    report.settings.min_agreement * 100,
                    color="#555555",
                    ls=":",
                    label=f"--min-agreement {report.settings.min_agreement:.2%}",
                )
        xs = [_side(c) for c, _ in pts]
        ax.plot(
            xs,
            [y for _, y in pts],
            "o-",
            color="#1f77b4",
            alpha=0.8,
            label="scene seconds" if what == "scene" else "agreement %",
        )
        for c, y in pts:
            if not c.eligible:
                ax.plot(_side(c), y, "o", mfc="none", mec="#d62728", ms=13, mew=2)
            if rec is not None and c.label == rec.label:
                ax.plot(_side(c), y, "*", color="#2ca02c", ms=20, zorder=6, label=f"recommended {c.label}")
        if what == "scene" and pts:
            ax.set_ylim(0, max(y * (1 + (c.scene.noise if c.scene else 0.0)) for c, y in pts) * 1.3)
        ax.set_xticks(xs)
        ax.set_xticklabels(
            [
                f"{c.shape_nchw[3]}x{c.shape_nchw[2]}" + (f"\nn={c.shape_nchw[0]}" if c.shape_nchw[0] > 1 else "")
                for c, _ in pts
            ]
        )
        ax.set_xlabel("tile (w x h); red ring = not eligible")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=9)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def _points(cands: list[Candidate], key: str) -> list[tuple[Candidate, float]]:
    """(candidate, value) of every candidate that has the metric ``key``."""
    m = metric(key)
    return [(c, value) for c in cands if (value := m.value(c)) is not None]


def _side(c: Candidate) -> float:
    n, _, h, w = c.shape_nchw
    return float((h * w) ** 0.5) + (n - 1) * 0.01
