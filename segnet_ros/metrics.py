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

"""
Segmentation metrics as in the SegNet paper, shared by training and evaluation.

G (global accuracy), C (class-average accuracy), mIoU from a confusion matrix, and the
boundary F1 score (BF) per image and class with a tolerance of 0.75% of the image diagonal.
Everything runs on torch tensors, on whichever device they live; ``Scorer`` takes the
uint8 masks the inference core returns and labels as numpy arrays.
"""

from collections import Counter
import math

import numpy as np
import torch
import torch.nn.functional as F


class ConfusionMatrix:
    """Accumulates a K x K confusion matrix (rows: ground truth, columns: prediction)."""

    def __init__(self, num_classes, ignore_index=255, device='cpu'):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = torch.zeros((num_classes, num_classes), dtype=torch.int64, device=device)

    def update(self, target, pred):
        """Add a batch: integer tensors of the same shape; ignored/out-of-range labels skipped."""
        if target.shape != pred.shape:
            raise ValueError(f'target {tuple(target.shape)} and prediction '
                             f'{tuple(pred.shape)} differ in shape')
        k = self.num_classes
        target = target.reshape(-1).to(self.mat.device, torch.int64)
        pred = pred.reshape(-1).to(self.mat.device, torch.int64)
        keep = (target >= 0) & (target < k) & (target != self.ignore_index)
        idx = target[keep] * k + pred[keep].clamp(0, k - 1)
        self.mat += torch.bincount(idx, minlength=k * k).view(k, k)

    def reduce_from_all_processes(self):
        """Sum the matrix over torch.distributed processes (no-op when not distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.mat)

    def compute(self):
        """Return a dict: global_acc, class_acc, miou, per-class acc and iou (NaN if absent)."""
        m = self.mat.double()
        tp = m.diag()
        gt = m.sum(1)
        pr = m.sum(0)
        with torch.no_grad():
            acc = tp / gt
            iou = tp / (gt + pr - tp)
        present = gt > 0
        total = gt.sum()
        return {
            'global_acc': float(tp.sum() / total) if total > 0 else math.nan,
            'class_acc': _nanmean(acc[present]),
            'miou': _nanmean(iou[present]),
            'class_accs': [float(v) for v in acc],
            'ious': [float(v) for v in iou],
            'pixels': int(total),
        }


def _nanmean(t):
    return float(t.mean()) if t.numel() else math.nan


def _boundary(mask, valid=None):
    """
    Inner boundary of a boolean (N, H, W) mask: pixels with a 4-neighbour outside it.

    Neighbours beyond the image edge or outside ``valid`` (ignored pixels) do not make a
    boundary.
    """
    inside = mask if valid is None else mask | ~valid
    # Erosion by a cross; the border is padded with 1 so the image edge is not a boundary.
    m = F.pad(inside.float().unsqueeze(1), (1, 1, 1, 1), value=1.0)
    eroded = torch.minimum(torch.minimum(m[..., :-2, 1:-1], m[..., 2:, 1:-1]),
                           torch.minimum(m[..., 1:-1, :-2], m[..., 1:-1, 2:]))
    return mask & (eroded.squeeze(1) == 0)


def _disk(radius, device):
    r = int(math.floor(radius))
    ys, xs = torch.meshgrid(torch.arange(-r, r + 1, device=device),
                            torch.arange(-r, r + 1, device=device), indexing='ij')
    return ((ys * ys + xs * xs) <= radius * radius).float()[None, None]


def _dilate(mask, kernel):
    r = kernel.shape[-1] // 2
    return F.conv2d(mask.float().unsqueeze(1), kernel, padding=r).squeeze(1) > 0


def boundary_f1(target, pred, num_classes, ignore_index=255, tolerance=0.0075):
    """
    Mean boundary F1 per image, averaged over the classes present in its ground truth.

    ``target`` and ``pred`` are (N, H, W) or (H, W) integer tensors. A boundary pixel
    matches when the other boundary lies within ``tolerance`` x the image diagonal
    (Euclidean). Ignored pixels count for neither side. Returns a list of N floats
    (NaN for an image with no valid class).
    """
    if target.dim() == 2:
        target, pred = target[None], pred[None]
    if target.shape != pred.shape:
        raise ValueError(f'target {tuple(target.shape)} and prediction '
                         f'{tuple(pred.shape)} differ in shape')
    h, w = target.shape[-2:]
    kernel = _disk(tolerance * math.hypot(h, w), target.device)
    valid = (target != ignore_index) & (target >= 0) & (target < num_classes)
    scores = []
    for t, p, v in zip(target, pred, valid):
        f1s = []
        for c in torch.unique(t[v]).tolist():
            gt_b = _boundary(((t == c) & v)[None], v[None])
            pr_b = _boundary(((p == c) & v)[None], v[None])
            n_gt, n_pr = int(gt_b.sum()), int(pr_b.sum())
            if n_gt == 0 and n_pr == 0:
                f1s.append(1.0)
                continue
            if n_gt == 0 or n_pr == 0:
                f1s.append(0.0)
                continue
            precision = float((pr_b & _dilate(gt_b, kernel)).sum()) / n_pr
            recall = float((gt_b & _dilate(pr_b, kernel)).sum()) / n_gt
            s = precision + recall
            f1s.append(2 * precision * recall / s if s > 0 else 0.0)
        scores.append(sum(f1s) / len(f1s) if f1s else math.nan)
    return scores


class SegmentationMetrics:
    """Confusion matrix plus running mean BF: everything the paper reports."""

    def __init__(self, num_classes, ignore_index=255, device='cpu', boundary=True):
        self.cm = ConfusionMatrix(num_classes, ignore_index, device)
        self.boundary = boundary
        self.bf_sum = torch.zeros(2, dtype=torch.float64, device=device)

    def update(self, target, pred):
        """Add a batch of (N, H, W) labels and predictions."""
        self.cm.update(target, pred)
        if self.boundary:
            for s in boundary_f1(target, pred, self.cm.num_classes, self.cm.ignore_index):
                if not math.isnan(s):
                    self.bf_sum[0] += s
                    self.bf_sum[1] += 1

    def reduce_from_all_processes(self):
        """Sum over distributed processes."""
        self.cm.reduce_from_all_processes()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.bf_sum)

    def compute(self):
        """Return the confusion-matrix metrics plus ``bf`` (NaN when not computed)."""
        out = self.cm.compute()
        n = float(self.bf_sum[1])
        out['bf'] = float(self.bf_sum[0]) / n if n else math.nan
        out['images'] = int(n)
        return out


class Scorer:
    """
    Score predicted masks against labels one frame at a time; count what was skipped.

    The one scoring loop behind ``segnet_eval`` and the offline and live bag evaluations.
    """

    def __init__(self, num_classes, ignore_index, class_names, class_colors, samples=0,
                 boundary=True):
        self.metrics = SegmentationMetrics(num_classes, ignore_index, boundary=boundary)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = class_names
        self.class_colors = class_colors
        self.skipped = Counter()
        self.scored = 0
        self.samples = []
        self.max_samples = samples

    def skip(self, reason):
        """Count a frame that could not be scored."""
        self.skipped[reason] += 1

    def add(self, pred, label, rgb=None, stamp=None):
        """Score one (H, W) frame; return False (and count why) when the pair is unusable."""
        if pred.shape != label.shape:
            self.skip('image and label sizes differ')
            return False
        bad = (label >= self.num_classes) & (label != self.ignore_index)
        if bad.any():
            self.skip('label values outside the class range')
            return False
        self.metrics.update(torch.from_numpy(label.astype(np.int64))[None],
                            torch.from_numpy(pred.astype(np.int64))[None])
        self.scored += 1
        if rgb is not None and len(self.samples) < self.max_samples:
            self.samples.append((stamp, rgb, pred, label))
        return True

    def results(self):
        """Return the metrics dict plus frame counts."""
        res = self.metrics.compute() if self.scored else {}
        res.update({'frames_scored': self.scored, 'frames_skipped': dict(self.skipped)})
        return res


def format_table(results, class_names):
    """Render metrics as a fixed-width text table (percentages), one row per class."""
    lines = [f"G {100 * results['global_acc']:.1f}  C {100 * results['class_acc']:.1f}  "
             f"mIoU {100 * results['miou']:.1f}  BF {100 * results.get('bf', math.nan):.1f}",
             f"{'class':<14}{'acc %':>8}{'IoU %':>8}"]
    for name, a, i in zip(class_names, results['class_accs'], results['ious']):
        lines.append(f'{name:<14}{100 * a:>8.1f}{100 * i:>8.1f}')
    return '\n'.join(lines)


# Histogram resolution of the per-pixel confidence and uncertainty figures: percentiles and
# AUROC are read from integer histograms, so they add up exactly over bags and processes.
HIST_BINS = 1000
CONFIDENCE_RANGE = 1.0
UNCERTAINTY_RANGE = 0.25  # MC-dropout variance of probabilities, averaged over classes
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


def _histogram(values, top):
    v = torch.as_tensor(np.asarray(values, np.float32)).reshape(-1).double()
    idx = (v / top * HIST_BINS).to(torch.int64).clamp_(0, HIST_BINS - 1)
    return torch.bincount(idx, minlength=HIST_BINS)


def _hist_percentile(hist, q, top):
    """Upper edge of the bin holding the q-th percentile of a histogram (NaN when empty)."""
    total = int(hist.sum())
    if not total:
        return math.nan
    i = int(torch.searchsorted(hist.cumsum(0), math.ceil(q / 100 * total)))
    return (min(i, HIST_BINS - 1) + 1) * top / HIST_BINS


def uncertainty_figures(hist_correct, hist_wrong, top):
    """
    Return how well a per-pixel uncertainty flags misclassified pixels, from histograms.

    ``hist_correct`` / ``hist_wrong`` are HIST_BINS counts of the uncertainty of correctly and
    wrongly classified pixels over [0, top]. Returns ``auroc`` (the chance that a wrong pixel
    is more uncertain than a right one, ties counted half) and ``accuracy_at_percentile``:
    {p: accuracy of the p% least uncertain pixels}, as Bayesian SegNet reports. The one
    place these figures are computed, for every evaluation that reports them.
    """
    c = hist_correct.double()
    w = hist_wrong.double()
    nc, nw = float(c.sum()), float(w.sum())
    auroc = math.nan
    if nc and nw:
        below = torch.cumsum(c, 0) - c
        auroc = float((w * (below + 0.5 * c)).sum()) / (nc * nw)
    acc = {}
    total = c + w
    cum_total, cum_c = torch.cumsum(total, 0), torch.cumsum(c, 0)
    n = float(total.sum())
    for p in PERCENTILES:
        if not n:
            acc[p] = math.nan
            continue
        i = min(int(torch.searchsorted(cum_total, math.ceil(p / 100 * n))), HIST_BINS - 1)
        acc[p] = float(cum_c[i] / cum_total[i])
    return {'auroc': auroc, 'accuracy_at_percentile': acc,
            'pixels_correct': int(nc), 'pixels_wrong': int(nw)}


def _distribution(hist, total_sum, top):
    n = int(hist.sum())
    return {'mean': float(total_sum) / n if n else math.nan,
            'p5': _hist_percentile(hist, 5, top), 'p50': _hist_percentile(hist, 50, top),
            'p95': _hist_percentile(hist, 95, top)}


class StreamStats:
    """
    What a stream of segmented frames shows without ground truth, frame by frame.

    Per-class pixel share, temporal consistency (share of pixels whose class flips between
    consecutive frames of the same size, overall and per class of the earlier frame), the
    distribution of the max-softmax confidence and, for Bayesian models, of the MC-dropout
    uncertainty. With a label for a frame, the confidence and uncertainty of right and wrong
    pixels are kept apart for ``uncertainty_figures``. Totals are integer counts (plus two
    float sums), so that bags and torch.distributed processes add up (``merge``,
    ``reduce_from_all_processes``); ``timeline`` holds one entry per frame for plots.
    """

    COUNTS = ('class_pixels', 'flip_pixels', 'flip_base', 'conf_hist', 'unc_hist',
              'conf_right', 'conf_wrong', 'unc_right', 'unc_wrong', 'frames')

    def __init__(self, num_classes, ignore_index=255, timeline=True):
        k = num_classes
        self.num_classes = k
        self.ignore_index = ignore_index
        z = torch.zeros
        self.class_pixels = z(k, dtype=torch.int64)
        self.flip_pixels = z(k, dtype=torch.int64)
        self.flip_base = z(k, dtype=torch.int64)
        for name in ('conf_hist', 'unc_hist', 'conf_right', 'conf_wrong', 'unc_right',
                     'unc_wrong'):
            setattr(self, name, z(HIST_BINS, dtype=torch.int64))
        self.frames = z(1, dtype=torch.int64)
        self.sums = z(2, dtype=torch.float64)  # confidence, uncertainty
        self.keep_timeline = timeline
        self.timeline = []
        self._prev = None

    def add(self, mask, t_ns, confidence=None, uncertainty=None, label=None, **extra):
        """
        Add one (H, W) uint8 mask at bag time ``t_ns``; return its timeline entry.

        ``confidence`` / ``uncertainty`` are (H, W) maps or None; ``label`` an (H, W) label
        of the same size, or None; ``extra`` (e.g. latency_ms) goes into the timeline.
        """
        k = self.num_classes
        m = torch.from_numpy(np.asarray(mask).astype(np.int64)).reshape(-1).clamp_(0, k - 1)
        counts = torch.bincount(m, minlength=k)
        self.class_pixels += counts
        self.frames += 1
        entry = {'t_ns': int(t_ns), 'shares': (counts.double() / m.numel()).tolist(),
                 'flip': None, **extra}
        if self._prev is not None and self._prev.shape == m.shape:
            changed = self._prev != m
            self.flip_pixels += torch.bincount(self._prev[changed], minlength=k)
            self.flip_base += torch.bincount(self._prev, minlength=k)
            entry['flip'] = float(changed.sum()) / m.numel()
        self._prev = m
        right = None
        if label is not None and label.shape == mask.shape:
            lbl = torch.from_numpy(np.asarray(label).astype(np.int64)).reshape(-1)
            valid = (lbl != self.ignore_index) & (lbl < k)
            right = (lbl == m)[valid]
        for name, values, top, col in (('conf', confidence, CONFIDENCE_RANGE, 0),
                                       ('unc', uncertainty, UNCERTAINTY_RANGE, 1)):
            if values is None:
                continue
            v = torch.from_numpy(np.array(values, np.float32)).reshape(-1)
            getattr(self, f'{name}_hist').add_(_histogram(v, top))
            self.sums[col] += v.double().sum()
            entry[f'{name}_mean'] = float(v.double().mean())
            if right is not None:
                v = v[valid]
                # Uncertain means low confidence: histogram 1 - confidence for the ranking.
                score = (1.0 - v) if name == 'conf' else v
                getattr(self, f'{name}_right').add_(_histogram(score[right], top))
                getattr(self, f'{name}_wrong').add_(_histogram(score[~right], top))
        if self.keep_timeline:
            self.timeline.append(entry)
        return entry

    def merge(self, other):
        """Add another StreamStats' totals (not its timeline) to this one."""
        for name in self.COUNTS:
            getattr(self, name).add_(getattr(other, name))
        self.sums += other.sums

    def reduce_from_all_processes(self):
        """Sum the totals over torch.distributed processes (no-op when not distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            for name in self.COUNTS:
                torch.distributed.all_reduce(getattr(self, name))
            torch.distributed.all_reduce(self.sums)

    def results(self, class_names=None):
        """Return the label-free figures (and the uncertainty ones where labels were seen)."""
        names = class_names or [str(i) for i in range(self.num_classes)]
        total = int(self.class_pixels.sum())
        base = int(self.flip_base.sum())
        res = {
            'frames': int(self.frames),
            'class_share': {n: (int(c) / total if total else math.nan)
                            for n, c in zip(names, self.class_pixels)},
            'flip_rate': int(self.flip_pixels.sum()) / base if base else math.nan,
            'flip_rate_per_class': {n: (int(f) / int(b) if int(b) else math.nan)
                                    for n, f, b in zip(names, self.flip_pixels,
                                                       self.flip_base)},
            'confidence': None, 'uncertainty': None,
        }
        if int(self.conf_hist.sum()):
            res['confidence'] = _distribution(self.conf_hist, self.sums[0], CONFIDENCE_RANGE)
        if int(self.unc_hist.sum()):
            res['uncertainty'] = _distribution(self.unc_hist, self.sums[1], UNCERTAINTY_RANGE)
        if int(self.conf_right.sum() + self.conf_wrong.sum()):
            res['confidence_vs_error'] = uncertainty_figures(
                self.conf_right, self.conf_wrong, CONFIDENCE_RANGE)
        if int(self.unc_right.sum() + self.unc_wrong.sum()):
            res['uncertainty_vs_error'] = uncertainty_figures(
                self.unc_right, self.unc_wrong, UNCERTAINTY_RANGE)
        return res
