"""Metric definitions checked against values computed independently in the test."""
import math

import numpy as np
import pytest

from rman_ros.bench import metrics as M


def _iou_ref(a, b):
    """Plain-Python IoU on (x, y, w, h) without +1."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def test_iou_hand_made_boxes():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 10, 10], [1, 1, 2, 2]], float)
    pr = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [10, 0, 10, 10], [0, 0, 10, 10], [1, 1, 4, 4]], float)
    # identical; half overlap 50/150; touching edges; quarter 25/175; inner 4/16
    np.testing.assert_allclose(M.iou(pr, gt), [1.0, 50 / 150, 0.0, 25 / 175, 4 / 16])


def test_center_error_hand_made():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    pr = np.array([[3, 4, 10, 10], [0, 0, 20, 20]], float)
    # centres (5,5) vs (8,9) -> 5; (5,5) vs (10,10) -> sqrt(50)
    np.testing.assert_allclose(M.center_error(pr, gt), [5.0, math.sqrt(50)])


def test_success_curve_is_strictly_greater_and_21_points():
    gt = np.array([[0, 0, 10, 10]] * 4, float)
    # IoUs exactly 0.5 (x shift giving 2/3 overlap area? build with known IoU values)
    pr = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 2.5], [50, 50, 5, 5]], float)
    ious = M.iou(pr, gt)
    np.testing.assert_allclose(ious, [1.0, 0.5, 0.25, 0.0])
    curve = M.success_curve(pr, gt)
    assert curve.shape == (21,)
    thr = [i / 20 for i in range(21)]
    expected = [sum(1 for v in [1.0, 0.5, 0.25, 0.0] if v > t) / 4 for t in thr]
    np.testing.assert_allclose(curve, expected)
    assert curve[10] == 0.25  # IoU == 0.5 does not count at threshold 0.5 (strict >)
    assert curve[0] == 0.75  # IoU == 0 does not count at threshold 0
    assert curve[-1] == 0.0  # nothing is > 1
    assert M.auc(curve) == pytest.approx(np.mean(expected))


def test_precision_curve_is_less_equal_and_51_points():
    gt = np.array([[0, 0, 10, 10]] * 3, float)
    pr = np.array([[20, 0, 10, 10], [0, 0, 10, 10], [30, 40, 10, 10]], float)  # errors 20, 0, 50
    curve = M.precision_curve(pr, gt)
    assert curve.shape == (51,)
    expected = [sum(1 for e in (20.0, 0.0, 50.0) if e <= t) / 3 for t in range(51)]
    np.testing.assert_allclose(curve, expected)
    assert curve[20] == pytest.approx(2 / 3)  # error exactly 20 px counts (<=)
    assert curve[0] == pytest.approx(1 / 3)


def test_random_boxes_match_reference_implementation():
    rng = np.random.default_rng(1)
    gt = np.c_[rng.uniform(0, 100, (200, 2)), rng.uniform(5, 60, (200, 2))]
    pr = gt + rng.normal(0, 12, gt.shape)
    pr[:, 2:] = np.abs(pr[:, 2:]) + 1
    ious = np.array([_iou_ref(a, b) for a, b in zip(pr, gt)])
    np.testing.assert_allclose(M.iou(pr, gt), ious, atol=1e-12)
    ce = np.hypot(pr[:, 0] + pr[:, 2] / 2 - gt[:, 0] - gt[:, 2] / 2, pr[:, 1] + pr[:, 3] / 2 - gt[:, 1] - gt[:, 3] / 2)
    s = M.sequence_metrics(pr, gt)
    # got10k definitions: success thresholds linspace(0,1,21) with '>', precision arange(0,51) with '<='
    succ = [(ious > t).mean() for t in np.linspace(0, 1, 21)]
    prec = [(ce <= t).mean() for t in np.arange(0, 51)]
    assert s["auc"] == pytest.approx(np.mean(succ), abs=1e-12)
    assert s["dp20"] == pytest.approx(prec[20], abs=1e-12)
    assert s["os50"] == pytest.approx((ious > 0.5).mean(), abs=1e-12)
    assert s["cle"] == pytest.approx(ce.mean(), abs=1e-9)
    nce = np.hypot((pr[:, 0] + pr[:, 2] / 2 - gt[:, 0] - gt[:, 2] / 2) / gt[:, 2],
                   (pr[:, 1] + pr[:, 3] / 2 - gt[:, 1] - gt[:, 3] / 2) / gt[:, 3])
    assert s["npr"] == pytest.approx((nce <= 0.2).mean(), abs=1e-12)


def test_nan_gt_frames_are_skipped_and_failed_predictions_count():
    gt = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, 10, 10]], float)
    pr = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [np.nan] * 4], float)
    s = M.sequence_metrics(pr, gt)
    assert s["scored_frames"] == 2
    assert s["os50"] == pytest.approx(0.5)  # frame 3 is a failure, frame 2 is not scored
    assert s["dp20"] == pytest.approx(0.5)
    assert s["cle"] == pytest.approx(0.0)  # mean over frames with a finite prediction


def test_dataset_scores_are_means_over_sequences_and_fps():
    gt = np.array([[0, 0, 10, 10]] * 2, float)
    a = M.sequence_metrics(gt.copy(), gt, times=[1.0, 0.5])
    b = M.sequence_metrics(gt + [100, 0, 0, 0], gt, times=[1.0, 0.25])
    d = M.dataset_scores({"a": a, "b": b})
    assert d["auc"] == pytest.approx((a["auc"] + b["auc"]) / 2)
    assert d["dp20"] == pytest.approx(0.5)
    assert d["fps"] == pytest.approx(4 / 2.75)
    assert d["fps_no_init"] == pytest.approx(2 / 0.75)
    assert a["fps"] == pytest.approx(2 / 1.5) and a["fps_no_init"] == pytest.approx(2.0)


def test_shape_errors():
    with pytest.raises(ValueError):
        M.iou(np.zeros((2, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError):
        M.iou(np.zeros((2, 3)), np.zeros((2, 3)))


def test_size_error_is_the_rms_log_side_ratio_and_off_target_counts_missed_frames():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [np.nan] * 4], dtype=float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 20, 20], [50, 50, 5, 5], [0, 0, 10, 10]], dtype=float)
    expect = np.sqrt((0 + np.log(2) ** 2 + np.log(0.5) ** 2) / 3)  # frame 3 has no gt: not scored
    assert M.size_error(pred, gt) == pytest.approx(expect)
    assert M.off_target(pred, gt) == pytest.approx(1 / 3)  # only the box at (50, 50) misses the target
    assert M.size_error(gt[:3], gt[:3]) == 0.0 and M.off_target(gt[:3], gt[:3]) == 0.0
    assert np.isnan(M.size_error(pred[3:], gt[3:])) and np.isnan(M.off_target(pred[3:], gt[3:]))
    assert M.aspect_error(pred, gt) == 0.0  # all of these boxes keep the target's square shape


def test_aspect_error_is_the_shape_part_of_the_side_errors():
    gt = np.array([[0, 0, 10, 20]] * 3, dtype=float)
    wide = np.array([[0, 0, 20, 10]] * 3, dtype=float)  # the same area, the shape turned over
    assert M.size_error(wide, gt) == pytest.approx(0.0, abs=1e-12)
    assert M.aspect_error(wide, gt) == pytest.approx(np.log(2))  # 0.5 log(4)
    # per frame, the squared log side errors split into the size part and the shape part
    pred = np.array([[0, 0, 15, 20], [0, 0, 10, 30], [0, 0, 8, 16]], dtype=float)
    lw, lh = np.log(pred[:, 2] / gt[:, 2]), np.log(pred[:, 3] / gt[:, 3])
    total = np.mean((lw ** 2 + lh ** 2) / 2)
    assert M.size_error(pred, gt) ** 2 + M.aspect_error(pred, gt) ** 2 == pytest.approx(total)
    assert np.isnan(M.aspect_error(np.full((3, 4), np.nan), gt))
