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
Score segmentation against ground truth in a bag, offline or from a live replay.

Images and labels pair by header stamp, exactly or to the nearest within a tolerance. Bad
frames (undecodable, size mismatch, labels outside the class range) are skipped and counted
by reason; the run never stops on them.
"""

import bisect
import json
import os

import numpy as np
from PIL import Image as PILImage

from . import bagio as io
from .. import conversions
from ..metrics import format_table
from ..metrics import Scorer
from ..visualize import colorize_numpy


class StampIndex:
    """Sorted header stamps for exact or nearest-within-tolerance look-up."""

    def __init__(self, stamps, tolerance_ns=0):
        self.stamps = sorted(stamps)
        self.tolerance = int(tolerance_ns)

    def match(self, stamp):
        """Return the paired stamp, or None when nothing lies within the tolerance."""
        i = bisect.bisect_left(self.stamps, stamp)
        best = None
        for j in (i - 1, i):
            if 0 <= j < len(self.stamps):
                d = abs(self.stamps[j] - stamp)
                if d <= self.tolerance and (best is None or d < abs(best - stamp)):
                    best = self.stamps[j]
        return best


def check_topic_types(bag, image_topic, label_topic):
    """Raise BagError unless the bag has an image topic and a mono8 label topic."""
    present = io.topics(bag)
    for topic, allowed in ((image_topic, (io.IMAGE, io.COMPRESSED)), (label_topic, (io.IMAGE,))):
        if topic not in present:
            listing = ', '.join(f'{t} ({v[0]})' for t, v in sorted(present.items()))
            raise io.BagError(f'{bag}: no topic {topic}; the bag has: {listing}')
        if present[topic][0] not in allowed:
            raise io.BagError(f'{bag}: {topic} holds {present[topic][0]}, expected '
                              f"{' or '.join(allowed)}")


def count_undecodable(scorer):
    """Return an ``on_error`` callback for read_messages that counts the topic on ``scorer``."""
    def undecodable(topic, stamp, exc):
        scorer.skip(f'{topic}: message does not decode')
    return undecodable


def read_labels(bag, label_topic, scorer):
    """Return {header stamp: (H, W) uint8 label} of a mono8 topic; count what fails."""
    labels = {}
    for m in io.read_messages(bag, [label_topic], on_error=count_undecodable(scorer)):
        try:
            labels[io.stamp_ns(m.msg)] = io.decode_label(m)
        except (conversions.ConversionError, io.BagError) as e:
            scorer.skip(f'label does not decode ({type(e).__name__})')
    return labels


def score_by_stamp(items, labels, scorer, predict, tolerance_ns=0):
    """
    Pair items with ``labels`` by header stamp and score their predictions on ``scorer``.

    ``items`` yields (stamp, item); ``predict(item)`` runs only for an item with a label
    and returns (mask, rgb or None), or None after counting on ``scorer`` why it cannot.
    Returns (scored masks by stamp, items without a label, labels never scored).
    """
    index = StampIndex(labels, tolerance_ns)
    scored, matched, unmatched = {}, set(), 0
    for stamp, item in items:
        key = index.match(stamp)
        if key is None:
            unmatched += 1
            continue
        prediction = predict(item)
        if prediction is None:
            continue
        mask, rgb = prediction
        if scorer.add(mask, labels[key], rgb, stamp):
            matched.add(key)
            scored[stamp] = mask
    return scored, unmatched, len(labels) - len(matched)


def offline_evaluate(bag, segmenter, image_topic, label_topic, tolerance_ns=0, samples=4,
                     max_pixels=None, progress=None):
    """
    Run ``segmenter`` on every image of ``image_topic`` and score against ``label_topic``.

    Returns (scorer, results, predictions): the Scorer, its results plus the unmatched
    counts, and {image stamp: (frame_id, uint8 mask)} of the scored frames. ``progress`` is
    called once per image segmented.
    """
    scorer = Scorer(segmenter.num_classes, segmenter.info.ignore_index,
                    segmenter.class_names, segmenter.class_colors, samples)
    check_topic_types(bag, image_topic, label_topic)
    labels = read_labels(bag, label_topic, scorer)
    images = ((io.stamp_ns(m.msg), m) for m in
              io.read_messages(bag, [image_topic], on_error=count_undecodable(scorer)))

    def predict(m):
        try:
            rgb = io.decode_rgb(m, max_pixels)
        except (conversions.ConversionError, io.BagError) as e:
            scorer.skip(f'image does not decode ({str(e).split(":")[0]})')
            return None
        mask = segmenter.segment(rgb, outputs=('mask',)).mask
        frame_ids[io.stamp_ns(m.msg)] = m.msg.header.frame_id
        if progress:
            progress()
        return mask, rgb

    frame_ids = {}
    scored, unmatched_images, unmatched_labels = score_by_stamp(
        images, labels, scorer, predict, tolerance_ns)
    res = scorer.results()
    res['images_unmatched'] = unmatched_images
    res['labels_unmatched'] = unmatched_labels
    return scorer, res, {stamp: (frame_ids[stamp], mask) for stamp, mask in scored.items()}


def write_report(out_dir, res, scorer, title, extra=None):
    """Write metrics.json, report.md, confusion.png and overlay samples to ``out_dir``."""
    from ..training.plots import plot_confusion

    os.makedirs(out_dir, exist_ok=True)
    res = dict(res, **(extra or {}))
    with open(os.path.join(out_dir, 'metrics.json'), 'w') as f:
        json.dump({**res, 'class_names': scorer.class_names,
                   'confusion': scorer.metrics.cm.mat.tolist()}, f, indent=1)
    plot_confusion(scorer.metrics.cm.mat, scorer.class_names,
                   os.path.join(out_dir, 'confusion.png'))
    sample_files = []
    for stamp, rgb, pred, label in scorer.samples:
        panel = np.concatenate([
            rgb, (0.5 * rgb + 0.5 * colorize_numpy(pred, scorer.class_colors)).astype(np.uint8),
            colorize_numpy(np.where(label < scorer.num_classes, label, 255),
                           scorer.class_colors)], axis=1)
        name = f'sample_{stamp}.png'
        PILImage.fromarray(panel).save(os.path.join(out_dir, name))
        sample_files.append(name)
    lines = [f'# {title}', '']
    if scorer.scored:
        lines += ['| G | C | mIoU | BF | frames scored |', '| --- | --- | --- | --- | --- |',
                  f"| {100 * res['global_acc']:.1f} | {100 * res['class_acc']:.1f} | "
                  f"{100 * res['miou']:.1f} | {100 * res['bf']:.1f} | {scorer.scored} |", '',
                  '| class | accuracy % | IoU % |', '| --- | --- | --- |']
        lines += [f'| {n} | {100 * a:.1f} | {100 * i:.1f} |' for n, a, i in
                  zip(scorer.class_names, res['class_accs'], res['ious'])]
    else:
        lines.append('No frame could be scored.')
    lines += ['', '## Frames', '']
    lines += [f'- {k.replace("_", " ")}: {v}' for k, v in res.items()
              if k.startswith(('frames', 'images', 'labels', 'latency', 'throughput',
                               'outputs', 'node'))]
    lines += ['', '## Confusion matrix (rows: ground truth, % of the row)', '',
              '![confusion](confusion.png)', '', '## Samples (image | prediction | truth)', '']
    lines += [f'![{n}]({n})' for n in sample_files]
    with open(os.path.join(out_dir, 'report.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return res


def summary_text(res, class_names):
    """Return the metrics table and frame counts as printable text."""
    text = format_table(res, class_names) if res.get('frames_scored') else 'no frame scored'
    counts = ', '.join(f'{k} {v}' for k, v in res.items()
                       if k.startswith(('frames', 'images_', 'labels_')))
    return f'{text}\n{counts}'
