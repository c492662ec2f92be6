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
Evaluation reports: metrics.json, report.md and the pictures it links.

The pictures: a timeline over bag time (latency where live, class shares, flip rate,
confidence), a contact sheet of image | overlay (| truth) samples spread over the bag, the
confusion matrix where frames were scored, and on request an MP4 of the overlays.
"""

import csv
import json
import math
import os

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from ..visualize import colorize_numpy
from ..visualize import import_opencv
from ..visualize import overlay_numpy


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_timeline(timeline, class_names, class_colors, path):
    """Write latency (if any), class shares, flip rate and confidence over bag time."""
    plt = _plt()
    t0 = timeline[0]['t_ns']
    t = np.array([(e['t_ns'] - t0) / 1e9 for e in timeline])
    rows = []
    if any(e.get('latency_ms') is not None for e in timeline):
        rows.append('latency')
    rows += ['shares', 'flip']
    if any('conf_mean' in e or 'unc_mean' in e for e in timeline):
        rows.append('confidence')
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.2 + 1.9 * len(rows)), sharex=True,
                             squeeze=False)
    for ax, row in zip(axes[:, 0], rows):
        if row == 'latency':
            lat = [e.get('latency_ms') for e in timeline]
            ax.plot(t, [math.nan if v is None else v for v in lat], '.-', lw=0.8, ms=3)
            ax.set_ylabel('latency ms')
        elif row == 'shares':
            shares = np.array([e['shares'] for e in timeline]).T * 100
            colors = [np.asarray(c) / 255 for c in class_colors]
            ax.stackplot(t, shares, labels=class_names, colors=colors)
            ax.set_ylim(0, 100)
            ax.set_ylabel('class share %')
            ax.legend(loc='center left', bbox_to_anchor=(1.0, 0.5), fontsize=7)
        elif row == 'flip':
            flips = [math.nan if e['flip'] is None else 100 * e['flip'] for e in timeline]
            ax.plot(t, flips, '.-', lw=0.8, ms=3, color='tab:red')
            ax.set_ylabel('pixels flipped %')
        else:
            for key, name in (('conf_mean', 'mean confidence'),
                              ('unc_mean', 'mean uncertainty x 4')):
                vals = [e.get(key, math.nan) for e in timeline]
                if key == 'unc_mean':
                    vals = [4 * v for v in vals]
                if not all(math.isnan(v) for v in vals):
                    ax.plot(t, vals, lw=0.8, label=name)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel('bag time s')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_accuracy_vs_uncertainty(res, path):
    """Write the accuracy of the p % least uncertain pixels against p (Bayesian SegNet)."""
    curves = [(key, name) for key, name in (('confidence_vs_error', 'by confidence'),
                                            ('uncertainty_vs_error', 'by MC-dropout uncertainty'))
              if res.get(key)]
    if not curves:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, name in curves:
        acc = res[key]['accuracy_at_percentile']
        ax.plot(list(acc), [100 * v for v in acc.values()], marker='.',
                label=f"{name} (AUROC {res[key]['auroc']:.3f})")
    ax.set_xlabel('the p % most certain pixels')
    ax.set_ylabel('accuracy %')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def write_timeline_csv(timeline, class_names, path):
    """Write the per-frame figures (bag time, flip, confidence, latency, shares) as CSV."""
    t0 = timeline[0]['t_ns']
    cols = ['t_s', 'flip', 'conf_mean', 'unc_mean', 'latency_ms']
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(cols + [f'share_{n}' for n in class_names])
        for e in timeline:
            row = [f"{(e['t_ns'] - t0) / 1e9:.6f}"]
            row += ['' if e.get(c) is None else f'{e[c]:.6g}' for c in cols[1:]]
            w.writerow(row + [f'{v:.6g}' for v in e['shares']])


def _caption(panel, text):
    img = PILImage.fromarray(panel)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 7 * len(text) + 6, 14), fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(img)


def contact_sheet(samples, class_colors, num_classes, path, t0_ns=None, width=256):
    """
    Write a sheet of samples, one row each: image | overlay | truth (when labelled) | extras.

    ``samples`` are (stamp, rgb, mask, label or None[, extra panels]); each row is scaled
    to ``width`` pixels per panel and captioned with its bag time.
    """
    rows = []
    t0 = t0_ns if t0_ns is not None else (samples[0][0] if samples else 0)
    for stamp, rgb, mask, label, *extra in samples:
        panels = [rgb, overlay_numpy(rgb, mask, class_colors)]
        if label is not None:
            panels.append(colorize_numpy(np.where(label < num_classes, label, 255),
                                         class_colors))
        panels += extra
        h, w = rgb.shape[:2]
        size = (width, max(1, round(h * width / w)))
        scaled = [np.asarray(PILImage.fromarray(p).resize(size, PILImage.NEAREST))
                  for p in panels]
        row = np.concatenate(scaled, axis=1)
        rows.append(_caption(row, f't = {(stamp - t0) / 1e9:.2f} s'))
    if not rows:
        return False
    full = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, full - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    PILImage.fromarray(np.concatenate(rows, axis=0)).save(path)
    return True


class VideoOut:
    """
    MP4 (mp4v) of image overlays through OpenCV's VideoWriter, at the bag's frame rate.

    The rate comes from the header stamps of the first two frames (``fps`` when there is
    only one); the writer opens on the second frame. ``error`` says why no video is written
    (no OpenCV, or no usable codec); frames are then dropped quietly so that the rest of
    the report is still written.
    """

    def __init__(self, path, colors, fps=10.0):
        self.path, self.colors, self.fps = path, colors, fps
        self.writer = None
        self.size = None
        self.frames = 0
        self.error = None
        self._first = None
        self._cv2 = import_opencv()
        if self._cv2 is None:
            self.error = 'OpenCV (opencv-python-headless) is not installed'

    def _open(self, frame):
        cv2 = self._cv2
        h, w = frame.shape[:2]
        self.size = (w - w % 2, h - h % 2)
        self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                                      self.size)
        if not self.writer.isOpened():
            self.writer = None
            self.error = 'no usable mp4v codec in this OpenCV build'

    def _write(self, frame):
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = self._cv2.resize(frame, self.size, interpolation=self._cv2.INTER_NEAREST)
        self.writer.write(np.ascontiguousarray(frame[..., ::-1]))
        self.frames += 1

    def add(self, stamp, rgb, mask):
        """Append the overlay of one frame (resized to the first frame's size)."""
        if self.error:
            return
        frame = overlay_numpy(rgb, mask, self.colors)
        if self.writer is None:
            if self._first is None:
                self._first = (stamp, frame)
                return
            dt = (stamp - self._first[0]) / 1e9
            if dt > 0:
                self.fps = min(max(1.0 / dt, 1.0), 120.0)
            self._open(self._first[1])
            if self.error:
                return
            self._write(self._first[1])
        self._write(frame)

    def close(self):
        """Finish the file; return None or why there is no video."""
        if self.writer is None and self._first is not None and not self.error:
            self._open(self._first[1])
            if not self.error:
                self._write(self._first[1])
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if not self.error and not self.frames:
            self.error = 'no frame to write'
        return self.error


def _pct(v):
    return '-' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{100 * v:.1f}'


def _num(v, fmt='.1f'):
    return '-' if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def label_free_lines(res, class_names):
    """Return Markdown lines for the figures that need no ground truth."""
    lines = ['## What the model sees (no ground truth needed)', '']
    lines.append(f"- frames segmented: {res.get('frames', 0)}")
    for key, text in (('ms_per_frame', 'ms per frame (segmentation, this machine)'),
                      ('latency_ms_p50', 'latency ms p50'), ('latency_ms_p95', 'latency ms p95'),
                      ('latency_ms_max', 'latency ms max'), ('throughput_hz', 'throughput Hz')):
        if key in res:
            lines.append(f'- {text}: {_num(res[key])}')
    if 'frames_dropped_by_node' in res:
        d = res['frames_dropped_by_node']
        lines.append('- frames dropped by the node: '
                     f"{'unknown (no /diagnostics from it)' if d is None else d}")
    lines.append(f"- temporal consistency: {_pct(res.get('flip_rate'))} % of the pixels "
                 'change class between consecutive frames')
    conf = res.get('confidence')
    if conf:
        lines.append(f"- confidence (max softmax): mean {_num(conf['mean'], '.3f')}, "
                     f"p5 {_num(conf['p5'], '.3f')}, p50 {_num(conf['p50'], '.3f')}")
    unc = res.get('uncertainty')
    if unc:
        lines.append('- uncertainty (Bayesian, MC-dropout variance): mean '
                     f"{_num(unc['mean'], '.4f')}, p50 {_num(unc['p50'], '.4f')}, "
                     f"p95 {_num(unc['p95'], '.4f')}")
    lines += ['', '| class | pixel share % | flipped % |', '| --- | --- | --- |']
    share = res.get('class_share', {})
    flips = res.get('flip_rate_per_class', {})
    lines += [f'| {n} | {_pct(share.get(n))} | {_pct(flips.get(n))} |' for n in class_names]
    for key, name in (('confidence_vs_error', 'low confidence'),
                      ('uncertainty_vs_error', 'uncertainty')):
        fig = res.get(key)
        if fig:
            accs = ', '.join(f'{p}%: {_pct(a)}' for p, a in fig['accuracy_at_percentile'].items())
            lines += ['', f"- {name} flags wrong pixels with AUROC {_num(fig['auroc'], '.3f')}; "
                      f'accuracy of the least uncertain pixels: {accs}']
    return lines + ['']


def score_lines(res, class_names):
    """Return Markdown lines for the scores against ground truth."""
    if not res.get('frames_scored'):
        return ['## Scores against ground truth', '',
                f"No frame scored (label topic: {res.get('label_topic') or 'none'}; "
                f"{res.get('label_topic_source', '')}).", '']
    lines = ['## Scores against ground truth', '',
             f"Labels: {res.get('label_topic')} ({res.get('label_topic_source', '')}).", '',
             '| G | C | mIoU | BF | frames scored |', '| --- | --- | --- | --- | --- |',
             f"| {_pct(res['global_acc'])} | {_pct(res['class_acc'])} | {_pct(res['miou'])} | "
             f"{_pct(res.get('bf'))} | {res['frames_scored']} |", '',
             '| class | accuracy % | IoU % |', '| --- | --- | --- |']
    lines += [f'| {n} | {_pct(a)} | {_pct(i)} |' for n, a, i in
              zip(class_names, res['class_accs'], res['ious'])]
    return lines + ['']


def write_report(out_dir, res, title, class_names, class_colors, scorer=None, timeline=(),
                 samples=(), video_note=None, extra_lines=()):
    """
    Write metrics.json and report.md (with its pictures) to ``out_dir``; return ``res``.

    ``timeline`` is StreamStats.timeline, ``samples`` the contact-sheet rows, ``scorer`` the
    Scorer whose confusion matrix is drawn when it scored frames; ``video_note`` is
    'video.mp4' or the reason there is no video.
    """
    os.makedirs(out_dir, exist_ok=True)
    doc = dict(res, class_names=class_names)
    if scorer is not None and scorer.scored:
        doc['confusion'] = scorer.metrics.cm.mat.tolist()
    with open(os.path.join(out_dir, 'metrics.json'), 'w') as f:
        json.dump(doc, f, indent=1, default=str)
    lines = [f'# {title}', '']
    if res.get('cut'):
        lines += [f"**The bag was cut** (a recording that did not finish): {res['cut']}. "
                  'The frames before the cut were evaluated.', '']
    counts = [f'- {k.replace("_", " ")}: {v}' for k, v in res.items()
              if k.startswith(('frames_', 'images_', 'labels_', 'outputs', 'node_'))]
    lines += ['## Frames', ''] + counts + ['']
    lines += label_free_lines(res, class_names)
    lines += score_lines(res, class_names)
    lines += list(extra_lines)
    lines += ['## Pictures', '']
    if timeline:
        plot_timeline(timeline, class_names, class_colors, os.path.join(out_dir, 'timeline.png'))
        write_timeline_csv(timeline, class_names, os.path.join(out_dir, 'timeline.csv'))
        lines += ['Over bag time (each frame in [timeline.csv](timeline.csv)):', '',
                  '![timeline](timeline.png)', '']
    if samples and contact_sheet(list(samples), class_colors, len(class_names),
                                 os.path.join(out_dir, 'samples.png'),
                                 timeline[0]['t_ns'] if timeline else None):
        last = ' | uncertainty, dark to bright' if any(len(r) > 4 for r in samples) else ''
        lines += [f'Samples spread over the bag (image | overlay | truth where labelled{last}):',
                  '',
                  '![samples](samples.png)', '']
    if video_note == 'video.mp4':
        lines += ['Overlays of every frame: [video.mp4](video.mp4)', '']
    elif video_note:
        lines += [f'No video: {video_note}.', '']
    if plot_accuracy_vs_uncertainty(res, os.path.join(out_dir, 'uncertainty.png')):
        lines += ['Accuracy of the pixels the model is surest of:', '',
                  '![uncertainty](uncertainty.png)', '']
    if scorer is not None and scorer.scored:
        from ..training.plots import plot_confusion
        plot_confusion(scorer.metrics.cm.mat, class_names,
                       os.path.join(out_dir, 'confusion.png'))
        lines += ['Confusion matrix (rows: ground truth, % of the row):', '',
                  '![confusion](confusion.png)', '']
    with open(os.path.join(out_dir, 'report.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return res
