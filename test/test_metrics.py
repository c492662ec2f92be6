# Copyright 2026 segnet_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Tests for the paper's metrics (G, C, mIoU, BF) against numbers worked out by hand."""

import math

import pytest
from segnet_ros.metrics import boundary_f1
from segnet_ros.metrics import ConfusionMatrix
from segnet_ros.metrics import format_table
from segnet_ros.metrics import SegmentationMetrics
import torch

torch.set_num_threads(1)

IGN = 255

# 3 classes, two ignored pixels, one prediction (7) outside the class range.
TARGET = torch.tensor([[0, 0, 1, 1],
                       [2, 2, IGN, 0],
                       [1, IGN, 2, 0]])
PRED = torch.tensor([[0, 1, 1, 1],
                     [2, 0, 2, 0],
                     [1, 1, 7, 2]])
# (gt, pred) over the 10 valid pixels, 7 clamped to 2:
#   (0,0) (0,1) (1,1) (1,1) / (2,2) (2,0) (0,0) / (1,1) (2,2) (0,2)
HAND_MATRIX = [[2, 1, 1],   # gt 0: 4 pixels, 2 right
               [0, 3, 0],   # gt 1: 3 pixels, 3 right
               [1, 0, 2]]   # gt 2: 3 pixels, 2 right


def test_confusion_matrix_hand_example():
    cm = ConfusionMatrix(3, IGN)
    cm.update(TARGET, PRED)
    assert cm.mat.tolist() == HAND_MATRIX
    r = cm.compute()
    assert r['pixels'] == 10
    # G: correct / valid = (2 + 3 + 2) / 10.
    assert r['global_acc'] == pytest.approx(7 / 10)
    # Per-class recall 2/4, 3/3, 2/3; C is their mean.
    assert r['class_accs'] == pytest.approx([2 / 4, 3 / 3, 2 / 3])
    assert r['class_acc'] == pytest.approx((2 / 4 + 1 + 2 / 3) / 3)
    # IoU = TP / (gt + pred - TP): column sums are 3, 4, 3.
    #   class 0: 2 / (4 + 3 - 2) = 2/5; class 1: 3 / (3 + 4 - 3) = 3/4; class 2: 2 / (3 + 3 - 2)
    assert r['ious'] == pytest.approx([2 / 5, 3 / 4, 2 / 4])
    assert r['miou'] == pytest.approx((0.4 + 0.75 + 0.5) / 3)


def test_confusion_matrix_accumulates_batches():
    cm = ConfusionMatrix(3, IGN)
    cm.update(TARGET[None], PRED[None])
    cm.update(torch.stack([TARGET, TARGET]), torch.stack([PRED, PRED]))
    assert cm.mat.tolist() == [[3 * v for v in row] for row in HAND_MATRIX]
    assert cm.compute()['global_acc'] == pytest.approx(0.7)


def test_negative_and_large_targets_are_skipped():
    cm = ConfusionMatrix(3, IGN)
    cm.update(torch.tensor([-1, 3, 0, 1]), torch.tensor([0, 0, 0, -5]))
    # Only (0,0) and (1, clamp(-5) = 0) count.
    assert cm.mat.tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]


def test_absent_class_is_left_out_of_c_and_miou():
    target = torch.tensor([[0, 0, 1, 1]])
    cm = ConfusionMatrix(3, IGN)
    cm.update(target, torch.tensor([[0, 0, 1, 0]]))
    r = cm.compute()
    assert math.isnan(r['class_accs'][2]) and math.isnan(r['ious'][2])
    assert r['class_acc'] == pytest.approx((1 + 0.5) / 2)
    # IoU 0: 2 / (2 + 3 - 2); 1: 1 / (2 + 1 - 1).
    assert r['miou'] == pytest.approx((2 / 3 + 1 / 2) / 2)

    # Predicted but absent from the ground truth: IoU 0 for it, still not in the mean.
    cm = ConfusionMatrix(3, IGN)
    cm.update(target, torch.tensor([[0, 2, 1, 1]]))
    r = cm.compute()
    assert math.isnan(r['class_accs'][2])
    assert r['ious'][2] == 0.0
    assert r['class_acc'] == pytest.approx((0.5 + 1) / 2)
    assert r['miou'] == pytest.approx((1 / 2 + 2 / 2) / 2)


def test_empty_matrix_gives_nan():
    cm = ConfusionMatrix(3, IGN)
    cm.update(torch.full((2, 2), IGN), torch.zeros(2, 2, dtype=torch.long))
    r = cm.compute()
    assert r['pixels'] == 0
    assert math.isnan(r['global_acc']) and math.isnan(r['class_acc']) and math.isnan(r['miou'])


def test_predictions_outside_range_are_clamped():
    cm = ConfusionMatrix(3, IGN)
    cm.update(torch.tensor([0, 2, 2]), torch.tensor([-3, 9, 255]))
    assert cm.mat.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 2]]


def test_shape_mismatch_raises():
    cm = ConfusionMatrix(3, IGN)
    with pytest.raises(ValueError, match='shape'):
        cm.update(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match='shape'):
        boundary_f1(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long), 2)


# Boundary F1 on a 200 x 300 image: tolerance 0.0075 * hypot(200, 300) = 0.0075 * 360.56 =
# 2.70 px, so boundary pixels match at offsets (dy, dx) with dy^2 + dx^2 <= 7.31: (2, 1)
# matches, (2, 2) and (0, 3) do not.
H, W = 200, 300


def rectangle(dx=0, value=1, base=None):
    lbl = torch.zeros(H, W, dtype=torch.long) if base is None else base.clone()
    lbl[50:150, 100 + dx:200 + dx] = value
    return lbl


def test_boundary_f1_identical_is_one():
    t = rectangle()
    t[160:190, 10:60] = 2
    assert boundary_f1(t, t.clone(), 3) == [1.0]
    assert boundary_f1(t[None], t[None].clone(), 3) == [1.0]


def test_boundary_f1_shift_within_tolerance_is_one():
    assert boundary_f1(rectangle(), rectangle(dx=2), 2) == [1.0]


def test_boundary_f1_shift_beyond_tolerance_hand_count():
    # GT: rows 50..149, cols 100..199 is class 1; prediction: the same shifted 10 px right.
    # Boundaries are inner 4-neighbour boundaries of each class mask.
    #
    # Class 1 (the rectangle's own perimeter, 100 + 100 + 98 + 98 = 396 px each side):
    #   top and bottom rows: GT cols 108..199 lie within 2 px of the predicted row (cols
    #   110..209): 92 + 92; left column: nothing within 2.7 px; right column (col 199): rows
    #   51, 52, 147, 148 are within 2 rows of the predicted top/bottom rows: 4.
    #   Recall = 188 / 396; precision is the mirror image: 188 / 396.
    # Class 0 (the ring just outside the rectangle: rows 49 and 150 over cols 100..199,
    # cols 99 and 200 over rows 50..149: 400 px each side):
    #   rows 49 and 150: cols 108..199 match the predicted rows (cols 110..209), and col 107
    #   matches the predicted left column 109 one row away (dy 1, dx 2): 93 + 93;
    #   col 99: nothing; col 200: rows 50, 51, 148, 149 (within 2 rows of rows 49/150): 4.
    #   Recall = precision = 190 / 400.
    # Image BF = mean over the classes present.
    expected = (188 / 396 + 190 / 400) / 2
    (score,) = boundary_f1(rectangle(), rectangle(dx=10), 2)
    assert score == pytest.approx(expected, abs=1e-12)


def test_boundary_f1_class_never_predicted_scores_zero():
    # GT: left half 0, right half 1, a 100 x 50 rectangle of class 2 in the left half.
    t = torch.zeros(H, W, dtype=torch.long)
    t[:, 150:] = 1
    t[50:150, 50:100] = 2
    p = torch.zeros(H, W, dtype=torch.long)
    p[:, 150:] = 1
    # Class 1: GT and prediction share the column-150 boundary: 1.
    # Class 2: never predicted: 0.
    # Class 0: predicted boundary = column 149 (200 px), all correct: precision 1; GT boundary
    # = column 149 plus the ring around the rectangle (2 * 100 + 2 * 50 = 300 px): recall
    # 200 / 500 = 0.4; F1 = 2 * 0.4 / 1.4 = 4 / 7.
    (score,) = boundary_f1(t, p, 3)
    assert score == pytest.approx((4 / 7 + 1 + 0) / 3, abs=1e-12)


def test_boundary_f1_ignored_pixels_make_no_boundary():
    # GT: left half 0, right half 1, an ignored block inside the class-0 half.
    t = torch.zeros(H, W, dtype=torch.long)
    t[:, 150:] = 1
    t[60:140, 30:90] = IGN
    # Prediction: the 0/1 edge 10 px off (beyond tolerance), and class 1 inside the ignored
    # block. If edges against ignored pixels counted as boundaries, class 0 would match its
    # ring around the block on both sides; they do not, so nothing matches.
    p = torch.zeros(H, W, dtype=torch.long)
    p[:, 160:] = 1
    p[60:140, 30:90] = 1
    assert boundary_f1(t, p, 2, ignore_index=IGN) == [0.0]

    # With the 0/1 edge right, the ignored block changes nothing: a perfect score, whatever
    # is predicted under it.
    good = torch.zeros(H, W, dtype=torch.long)
    good[:, 150:] = 1
    good[60:140, 30:90] = 1
    assert boundary_f1(t, good, 2, ignore_index=IGN) == [1.0]
    good[60:140, 30:90] = 0
    assert boundary_f1(t, good, 2, ignore_index=IGN) == [1.0]


def test_boundary_f1_all_ignored_is_nan():
    t = torch.full((20, 30), IGN)
    (score,) = boundary_f1(t, torch.zeros(20, 30, dtype=torch.long), 2)
    assert math.isnan(score)


def test_boundary_f1_single_class_image():
    t = torch.zeros(20, 30, dtype=torch.long)
    assert boundary_f1(t, t.clone(), 2) == [1.0]
    p = t.clone()
    p[5:10, 5:10] = 1
    # Class 0 has no GT boundary but a predicted one: 0.
    assert boundary_f1(t, p, 2) == [0.0]


def test_segmentation_metrics_average_bf_over_images():
    m = SegmentationMetrics(2, IGN)
    t = rectangle()
    m.update(torch.stack([t, t]), torch.stack([t.clone(), rectangle(dx=10)]))
    # An image with nothing valid has no BF and does not count.
    m.update(torch.full((1, H, W), IGN), torch.zeros(1, H, W, dtype=torch.long))
    r = m.compute()
    assert r['images'] == 2
    assert r['bf'] == pytest.approx((1.0 + (188 / 396 + 190 / 400) / 2) / 2, abs=1e-12)
    # The confusion-matrix metrics ride along.
    assert r['pixels'] == 2 * H * W
    assert 0 < r['global_acc'] < 1


def test_segmentation_metrics_without_boundary():
    m = SegmentationMetrics(3, IGN, boundary=False)
    m.update(TARGET[None], PRED[None])
    r = m.compute()
    assert math.isnan(r['bf']) and r['images'] == 0
    assert r['global_acc'] == pytest.approx(0.7)


def test_format_table():
    cm = ConfusionMatrix(3, IGN)
    cm.update(TARGET, PRED)
    text = format_table(dict(cm.compute(), bf=0.5), ['sky', 'road', 'car'])
    lines = text.splitlines()
    assert lines[0] == 'G 70.0  C 72.2  mIoU 55.0  BF 50.0'
    assert len(lines) == 5 and lines[2].startswith('sky') and '40.0' in lines[2]
