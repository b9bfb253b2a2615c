"""The scene objective's part of the recommendation: exclusions, ranking ties, the reason's lead.

``scene``: the lowest predicted scene time (scene.py). A smaller tile whose scene time is within
the timing noise of the best (IQR/median of either candidate's batch latency) counts as a tie and
is preferred (less memory, lower latency per tile), and the reason says so, as for throughput.
``--min-agreement`` excludes any candidate whose tiled labels agree with the native-resolution
dygraph labels on fewer pixels than that fraction, or whose agreement was not measured.
"""

from __future__ import annotations

from trt_export.bench.report import Candidate


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


def prefer_smaller_scene_within_noise(ranked: list[Candidate]) -> tuple[list[Candidate], str | None]:
    best = ranked[0]
    assert best.scene is not None
    tied = []
    for cand in ranked[1:]:
        assert cand.scene is not None
        band = max(best.scene.noise, cand.scene.noise)
        if cand.pixels < best.pixels and cand.scene.scene_s <= best.scene.scene_s * (1 + band):
            tied.append((cand, band))
    if not tied:
        return ranked, None
    pick, band = min(tied, key=lambda item: (item[0].pixels, item[0].label))
    reordered = [pick, best] + [c for c in ranked[1:] if c is not pick]
    note = (
        f"{pick.label} is within the timing noise (+-{band:.0%}, IQR/median) of {best.label}'s "
        f"{best.scene.scene_s:.2f} s per scene, so the smaller input is preferred"
    )
    return reordered, note


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
