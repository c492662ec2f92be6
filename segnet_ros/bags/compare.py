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
Model A against model B on the same bag, offline, with or without ground truth.

Without labels: how far B agrees with A (A's masks taken as the reference: pixel agreement,
IoU per class and mIoU), the speed of each on this machine, and the frames where they
disagree most. With labels, both models' scores as well.
"""

import heapq
import json
import math
import os

import numpy as np
import torch

from . import bagio as io
from .evaluate import count_undecodable
from .evaluate import find_topics
from .evaluate import read_labels
from .evaluate import StampIndex
from .report import contact_sheet
from .report import score_lines
from .. import conversions
from ..metrics import ConfusionMatrix
from ..metrics import Scorer
from ..stats import summarize
from ..visualize import overlay_numpy


def compare_models(bag, seg_a, seg_b, image_topic=None, label_topic=None, tolerance_ns=0,
                   samples=4, progress=None, labels=True, max_pixels=None):
    """
    Segment every image of ``bag`` with both segmenters; return (results, samples, scorers).

    ``samples`` are the frames where the masks differ most, as contact-sheet rows
    (stamp, rgb, mask A, None, overlay B, difference); ``scorers`` is (A, B) against the
    labels (nothing scored without them).
    """
    if seg_a.num_classes != seg_b.num_classes or seg_a.class_names != seg_b.class_names:
        raise ValueError(f'the models have different classes ({seg_a.num_classes}: '
                         f'{seg_a.class_names} and {seg_b.num_classes}: {seg_b.class_names})')
    k = seg_a.num_classes
    source = io.open_bag(bag)
    try:
        if not source.topics:
            raise io.BagError(f'{bag}: the bag is empty')
        image_topic, label_topic, how = find_topics(bag, source, image_topic, label_topic,
                                                    labels, tolerance_ns)
        if not source.topics[image_topic][1]:
            raise io.BagError(f'{bag}: {image_topic} has no messages')
        scorers = [Scorer(k, s.info.ignore_index, s.class_names, s.class_colors)
                   for s in (seg_a, seg_b)]
        label_map = read_labels(bag, label_topic, scorers[0], source) if label_topic else {}
        index = StampIndex(label_map, tolerance_ns)
        agreement = ConfusionMatrix(k, ignore_index=-1)
        seconds = ([], [])
        worst = []  # min-heap of (disagreement, stamp, rgb, mask A, mask B)
        frames = 0
        for seg in (seg_a, seg_b):
            seg.warmup()
        for m in io.read_messages(bag, [image_topic], on_error=count_undecodable(scorers[0]),
                                  source=source):
            if progress:
                progress()
            try:
                rgb = io.decode_rgb(m, max_pixels)
            except (conversions.ConversionError, io.BagError) as e:
                scorers[0].skip(f'image does not decode ({str(e).split(":")[0]})')
                continue
            outs = [seg.segment(rgb, outputs=('mask',)) for seg in (seg_a, seg_b)]
            for times, out in zip(seconds, outs):
                times.append(out.total_s)
            ma, mb = outs[0].mask, outs[1].mask
            frames += 1
            agreement.update(torch.from_numpy(ma.astype(np.int64)),
                             torch.from_numpy(mb.astype(np.int64)))
            stamp = io.stamp_ns(m.msg)
            item = (float((ma != mb).mean()), stamp, rgb, ma, mb)
            if len(worst) < samples:
                heapq.heappush(worst, item)
            elif samples and item[0] > worst[0][0]:
                heapq.heapreplace(worst, item)
            key = index.match(stamp) if label_topic else None
            if key is not None:
                for scorer, mask in zip(scorers, (ma, mb)):
                    scorer.add(mask, label_map[key])
    finally:
        source.close()
    cm = agreement.compute()
    names = seg_a.class_names
    res = {
        'bag': os.path.abspath(bag), 'image_topic': image_topic, 'label_topic': label_topic,
        'label_topic_source': how, 'cut': source.cut, 'frames': frames,
        'model_a': seg_a.model_path, 'model_b': seg_b.model_path, 'device': str(seg_a.device),
        'pixel_agreement': cm['global_acc'], 'miou_b_vs_a': cm['miou'],
        'iou_b_vs_a': dict(zip(names, cm['ious'])),
        'class_share_a': dict(zip(names, (agreement.mat.sum(1).double() /
                                          max(1, int(agreement.mat.sum()))).tolist())),
        'ms_per_frame_a': {k: 1000 * v for k, v in summarize(seconds[0]).items() if k != 'n'},
        'ms_per_frame_b': {k: 1000 * v for k, v in summarize(seconds[1]).items() if k != 'n'},
        'most_disagreeing': [{'stamp': s, 'disagreement': d}
                             for d, s, *_ in sorted(worst, reverse=True)],
        'frames_skipped': dict(scorers[0].skipped),
    }
    if label_topic:
        res['scores_a'] = scorers[0].results()
        res['scores_b'] = scorers[1].results()
    colors = seg_a.class_colors
    rows = [(s, rgb, ma, None, overlay_numpy(rgb, mb, colors),
             np.repeat(((ma != mb) * 255).astype(np.uint8)[..., None], 3, axis=2))
            for _, s, rgb, ma, mb in sorted(worst, reverse=True, key=lambda w: w[0])]
    return res, rows, scorers


def _pct(v):
    return '-' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{100 * v:.1f}'


def write_compare_report(out_dir, res, rows, class_names, class_colors, t0_ns=None):
    """Write metrics.json, report.md and samples.png of a comparison to ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'metrics.json'), 'w') as f:
        json.dump(dict(res, class_names=class_names), f, indent=1)
    a, b = (os.path.basename(res['model_a']), os.path.basename(res['model_b']))
    lines = [f"# {a} (A) against {b} (B) on {res['bag']}", '']
    if res.get('cut'):
        lines += [f"**The bag was cut**: {res['cut']}. The frames before the cut were used.", '']
    sa, sb = res['ms_per_frame_a'], res['ms_per_frame_b']
    lines += [f"{res['frames']} frames of {res['image_topic']}, on {res['device']}.", '',
              '## Speed on this machine (ms a frame)', '', '| model | mean | p50 | p95 | max |',
              '| --- | --- | --- | --- | --- |']
    for name, s in (('A ' + a, sa), ('B ' + b, sb)):
        lines.append(f"| {name} | {s['mean']:.1f} | {s['p50']:.1f} | {s['p95']:.1f} | "
                     f"{s['max']:.1f} |")
    lines += ['', '## Agreement (A taken as the reference)', '',
              f"Pixels where B agrees with A: {_pct(res['pixel_agreement'])} %; "
              f"mIoU of B against A: {_pct(res['miou_b_vs_a'])} %.", '',
              '| class | share in A % | IoU of B against A % |', '| --- | --- | --- |']
    lines += [f"| {n} | {_pct(res['class_share_a'][n])} | {_pct(res['iou_b_vs_a'][n])} |"
              for n in class_names]
    lines.append('')
    if 'scores_a' in res:
        lines += ['## Against ground truth', '', '| model | G | C | mIoU | BF | frames |',
                  '| --- | --- | --- | --- | --- | --- |']
        for name, s in (('A', res['scores_a']), ('B', res['scores_b'])):
            if s.get('frames_scored'):
                lines.append(f"| {name} | {_pct(s['global_acc'])} | {_pct(s['class_acc'])} | "
                             f"{_pct(s['miou'])} | {_pct(s.get('bf'))} | "
                             f"{s['frames_scored']} |")
        lines += ['', '| class | IoU A % | IoU B % |', '| --- | --- | --- |']
        if res['scores_a'].get('frames_scored'):
            lines += [f'| {n} | {_pct(ia)} | {_pct(ib)} |' for n, ia, ib in
                      zip(class_names, res['scores_a']['ious'], res['scores_b']['ious'])]
        lines.append('')
    else:
        lines += score_lines({'label_topic': None,
                              'label_topic_source': res['label_topic_source']}, class_names)
    if rows and contact_sheet(rows, class_colors, len(class_names),
                              os.path.join(out_dir, 'samples.png'), t0_ns):
        worst = ', '.join(f"{100 * d['disagreement']:.1f} %" for d in res['most_disagreeing'])
        lines += ['## Where they disagree most', '',
                  f'image | A | B | pixels that differ (white); differing: {worst}', '',
                  '![samples](samples.png)', '']
    with open(os.path.join(out_dir, 'report.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
