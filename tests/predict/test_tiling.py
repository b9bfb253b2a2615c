"""Tile placement, batch filling and the four merges: hand-computed cases and invariants."""

from __future__ import annotations

import numpy as np
import pytest

from trt_export.errors import InputError
from trt_export.predict.tiling import (
    LabelCanvas,
    Window,
    border_weights,
    make_merger,
    plan_tiles,
    read_window,
    run_tiles,
)


def xs(plan, row=0):
    return [t.read.x for t in plan.tiles if t.row == row]


def ys(plan):
    return sorted({t.read.y for t in plan.tiles})


def test_placement_moves_edge_tiles_inward():
    # stride 512 - 36 = 476: x0 = 0, 476, 952 -> 952 + 512 > 1000, so the last tile ends at the edge (488)
    plan = plan_tiles(1000, 600, 512, 36)
    assert xs(plan) == [0, 476, 488]
    assert ys(plan) == [0, 88]
    assert plan.tile_count == 6 and plan.merge == "keep_last"
    assert all(t.read == t.write for t in plan.tiles)
    assert plan.redundancy == pytest.approx(6 * 512 * 512 / (1000 * 600))


def test_placement_keeps_paddlers_duplicate_tile():
    # 988 = 512 + 476: the third stride lands on the second tile again; PaddleRS runs it twice
    plan = plan_tiles(988, 512, 512, 36)
    assert xs(plan) == [0, 476, 476]


def test_width_and_height_differ():
    plan = plan_tiles(300, 200, (128, 64), (28, 14))
    assert xs(plan) == [0, 100, 172]  # stride 100; 200 + 128 > 300 -> 172
    assert ys(plan) == [0, 50, 100, 136]  # stride 50; 150 + 64 > 200 -> 136
    assert all((t.read.width, t.read.height) == (128, 64) for t in plan.tiles)


def test_redundancy_matches_block_over_stride_squared():
    # the figures: with overlap 36, 512 tiles cost about (512/476)^2 = 1.16x
    plan = plan_tiles(476 * 20, 476 * 20, 512, 36)  # 20 tiles per axis
    assert plan.redundancy == pytest.approx((512 / 476) ** 2, rel=0.01)


def test_overlap_zero_or_whole_scene_tile_is_keep_last():
    assert plan_tiles(256, 256, 128, 0, "accum").merge == "keep_last"
    plan = plan_tiles(128, 128, 128, 36, "keep_first")
    assert plan.merge == "keep_last" and plan.requested_merge == "keep_first"
    # PaddleRS still strides by 92: x0 = 0, 92 -> both tiles end up at 0 (it runs the scene 4 times)
    assert [(t.read.x, t.read.y) for t in plan.tiles] == [(0, 0)] * 4


@pytest.mark.parametrize(
    "args, needle",
    [
        ((100, 100, 128, 10), "larger than the scene"),
        ((500, 500, 128, 128), "not smaller than the tile"),
        ((500, 500, 128, 200), "not smaller than the tile"),
        ((500, 500, 128, 64, "swell"), "below half"),
        ((500, 500, 128, -1), ">= 0"),
        ((500, 500, 128, 8, "median"), "unknown merge"),
    ],
)
def test_bad_tiling_is_refused(args, needle):
    with pytest.raises(InputError, match=needle):
        plan_tiles(*args)


def test_batches_fill_the_last_one_by_repeating():
    plan = plan_tiles(1000, 600, 512, 36)  # 6 tiles
    batches = list(plan.batches(4))
    assert [len(b.tiles) for b in batches] == [4, 2] and [b.fill for b in batches] == [0, 2]
    assert plan.batch_count(4) == 2 and plan.batch_count(1) == 6


def test_swell_windows_start_before_the_scene_and_keep_centres():
    plan = plan_tiles(100, 100, 40, 10, "swell")  # centre 20, stride 20, windows start at -10
    assert xs(plan) == [-10, 10, 30, 50, 70, 70]
    writes = [t.write.x for t in plan.tiles if t.row == 0]
    assert writes == [0, 20, 40, 60, 80, 80]
    assert all(t.write.width == 20 and (t.crop_x, t.crop_y) == (10, 10) for t in plan.tiles)


def test_read_window_pads_outside_with_zeros():
    image = np.arange(1, 17, dtype=np.uint8).reshape(4, 4, 1)
    block = read_window(image, Window(-1, 2, 3, 3))
    assert block[:, :, 0].tolist() == [[0, 9, 10], [0, 13, 14], [0, 0, 0]]


def test_border_weights():
    w = border_weights(4, 8)  # 1 row and 2 columns per side at 0.5, corners 0.25
    assert w[0].tolist() == [0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert w[1].tolist() == [0.5, 0.5, 1, 1, 1, 1, 0.5, 0.5]


def _constant_tile_model(probs_by_tile):
    """A fake network whose tile i predicts the class probabilities probs_by_tile[i] everywhere."""
    calls = iter(range(10**6))

    def infer(feeds):
        n, _, h, w = feeds[0].shape
        scores = np.stack(
            [
                np.broadcast_to(
                    np.asarray(probs_by_tile[min(next(calls), len(probs_by_tile) - 1)], np.float32),
                    (h, w, len(probs_by_tile[0])),
                )
                for _ in range(n)
            ]
        )
        return np.argmax(scores, axis=3).astype(np.uint8), scores

    return infer


def _run(plan, infer, batch=1):
    canvas = LabelCanvas(plan.scene_width, plan.scene_height)
    image = np.zeros((plan.scene_height, plan.scene_width, 1), np.uint8)
    run_tiles(
        plan,
        batch,
        [lambda w: read_window(image, w)],
        lambda t: t.transpose(2, 0, 1).astype(np.float32),
        infer,
        make_merger(plan, canvas),
    )
    return canvas.labels


# Scene 6x4, tiles 4x4, overlap 2 across and 0 down (one row): x = 0, 2, 2 (the third stride repeats the second tile).
# Tile 0 says class 0 (0.8/0.2), tiles 1 and 2 say class 1 (0.3/0.7).
HAND_PROBS = [(0.8, 0.2), (0.3, 0.7), (0.3, 0.7)]


def test_keep_last_and_keep_first_by_hand():
    plan = plan_tiles(6, 4, 4, (2, 0), "keep_last")
    assert xs(plan) == [0, 2, 2]
    assert _run(plan, _constant_tile_model(HAND_PROBS))[1].tolist() == [0, 0, 1, 1, 1, 1]
    plan = plan_tiles(6, 4, 4, (2, 0), "keep_first")
    assert _run(plan, _constant_tile_model(HAND_PROBS))[1].tolist() == [0, 0, 0, 0, 1, 1]


def test_accum_by_hand():
    # column weights [.5, 1, 1, .5] per tile. After tile 0, columns 0..3 hold class sums
    # c0 = .8*w = [.4, .8, .8, .4], c1 = [.1, .2, .2, .1]. Tile 1 (columns 2..5) adds
    # c0 [.15, .3, .3, .15], c1 [.35, .7, .7, .35]: column 2 -> .95 vs .55 (class 0),
    # column 3 -> .7 vs .8 (class 1); tile 2 adds the same again: column 2 1.1 vs .9 (0), column 3 1.0 vs 1.5 (1).
    plan = plan_tiles(6, 4, 4, (2, 0), "accum")
    labels = _run(plan, _constant_tile_model(HAND_PROBS))
    assert labels.tolist() == [[0, 0, 0, 1, 1, 1]] * 4


def test_batched_run_merges_only_real_tiles():
    plan = plan_tiles(6, 4, 4, (2, 0), "keep_first")
    seen = []

    def infer(feeds):
        seen.append(feeds[0].shape[0])
        n, _, h, w = feeds[0].shape
        return np.zeros((n, h, w), np.uint8), None

    canvas = LabelCanvas(6, 4)
    image = np.zeros((4, 6, 1), np.uint8)
    timings = run_tiles(
        plan,
        2,
        [lambda w: read_window(image, w)],
        lambda t: t.transpose(2, 0, 1).astype(np.float32),
        infer,
        make_merger(plan, canvas),
    )
    assert seen == [2, 2] and timings.tiles == 3 and timings.batches == 2
    assert (canvas.labels == 0).all()


@pytest.mark.parametrize("merge", ["keep_first", "keep_last", "accum", "swell"])
def test_pointwise_model_is_reproduced_by_every_merge(merge):
    """A network that labels each pixel by its own value is translation-exact, so any correct
    placement and merge must give back the input everywhere (swell's zero padding included)."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 5, size=(70, 90, 1), dtype=np.uint8)
    plan = plan_tiles(90, 70, (32, 24), (6, 4), merge)

    def infer(feeds):
        labels = feeds[0][:, 0].astype(np.uint8)
        scores = np.eye(5, dtype=np.float32)[labels]
        return labels, scores

    canvas = LabelCanvas(90, 70)
    run_tiles(
        plan,
        3,
        [lambda w: read_window(image, w)],
        lambda t: t.transpose(2, 0, 1).astype(np.float32),
        infer,
        make_merger(plan, canvas),
    )
    assert (canvas.labels == image[:, :, 0]).all()


def test_nodata_pixels_come_out_invalid():
    image = np.full((8, 8, 2), 7, np.uint8)
    image[:3, :3] = 0  # nodata in both bands
    image[5, 5, 0] = 0  # one band only: still data
    plan = plan_tiles(8, 8, 4, 1)
    canvas = LabelCanvas(8, 8)

    def infer(feeds):
        n, _, h, w = feeds[0].shape
        return np.ones((n, h, w), np.uint8), None

    run_tiles(
        plan,
        1,
        [lambda w: read_window(image, w)],
        lambda t: t.transpose(2, 0, 1).astype(np.float32),
        infer,
        make_merger(plan, canvas),
        nodata=0,
    )
    assert (canvas.labels[:3, :3] == 255).all() and canvas.labels[5, 5] == 1 and (canvas.labels[3:, 3:] == 1).all()


def test_accum_without_scores_is_refused():
    plan = plan_tiles(6, 4, 4, (2, 0), "accum")
    with pytest.raises(InputError, match="accum needs class scores"):
        _run(plan, lambda feeds: (np.zeros((1, 4, 4), np.uint8), None))
