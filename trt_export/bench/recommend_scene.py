"""The scene objective's part of the recommendation: exclusions, ranking ties, the reason's lead.

``scene``: the lowest predicted scene time (scene.py). A smaller tile whose scene time is within
the timing noise of the best (IQR/median of either candidate's batch latency) counts as a tie and
is preferred (less memory, lower latency per tile), and the reason says so, as for throughput.
``--min-agreement`` excludes any candidate whose tiled labels agree with the native-resolution
dygraph labels on fewer pixels than that fraction, or whose agreement was not measured.
"""

from __future__ import annotations

from collections.abc import Callable

from trt_export.bench.report import Candidate
from trt_export.bench.scene import SceneEstimate


def scene_exclusions(cand: Candidate, objective: str, min_agreement: float | None) -> list[str]:
    if not cand.ok:
        return []  # the failure is the reason already
    reasons = []
    if objective == "scene" and cand.latency_ms is not None and cand.scene is None:
        reasons.append("no scene time estimated")
    if min_agreement is not None:
        if cand.agreement is None:
            reasons.append(f"agreement not measured, so --min-agreement {min_agreement:g} cannot be checked")
        elif cand.agreement.agreement < min_agreement:
            reasons.append(
                f"label agreement {cand.agreement.agreement:.2%} < --min-agreement {min_agreement:.2%} (mIoU {cand.agreement.miou:.3f})"
            )
    return reasons


def smaller_within_noise(
    ranked: list[Candidate],
    band_of: Callable[[Candidate], float],
    ties: Callable[[Candidate, float], bool],
) -> tuple[list[Candidate], Candidate, float] | None:
    """The ranking with the smallest input that ties the best within the noise moved to the front.

    ``band_of(cand)``: the relative noise band between ``cand`` and the best; ``ties(cand, band)``:
    whether ``cand``'s figure is within that band of the best's. Returns (reordered ranking, the
    pick, its band), or None when no smaller input ties.
    """
    best = ranked[0]
    tied = [(cand, band) for cand in ranked[1:] if cand.pixels < best.pixels and ties(cand, band := band_of(cand))]
    if not tied:
        return None
    pick, band = min(tied, key=lambda item: (item[0].pixels, item[0].label))
    return [pick, best] + [c for c in ranked[1:] if c is not pick], pick, band


def prefer_smaller_scene_within_noise(ranked: list[Candidate]) -> tuple[list[Candidate], str | None]:
    best = ranked[0]
    found = smaller_within_noise(
        ranked,
        lambda c: max(_scene(best).noise, _scene(c).noise),
        lambda c, band: _scene(c).scene_s <= _scene(best).scene_s * (1 + band),
    )
    if found is None:
        return ranked, None
    reordered, pick, band = found
    note = (
        f"{pick.label} is within the timing noise (+-{band:.0%}, IQR/median) of {best.label}'s "
        f"{_scene(best).scene_s:.2f} s per scene, so the smaller input is preferred"
    )
    return reordered, note


def _scene(cand: Candidate) -> SceneEstimate:
    assert cand.scene is not None
    return cand.scene


def scene_lead(best: Candidate) -> str:
    scene = best.scene
    assert scene is not None
    text = (
        f"fastest scene, {scene.scene_s:.2f} s ({scene.effective_mp_per_s:.2f} MP/s effective: {scene.tiles} tiles in "
        f"{scene.batches} batches, {scene.redundancy:.2f}x the scene's pixels, host {scene.host_ms_per_tile:.1f} ms/tile)"
    )
    if best.agreement is not None:
        text += f", label agreement {best.agreement.agreement:.2%} (mIoU {best.agreement.miou:.3f})"
    return text
