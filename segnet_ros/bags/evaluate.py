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
from dataclasses import dataclass
from dataclasses import field
import math
import os

import numpy as np

from . import bagio as io
from .. import conversions
from ..metrics import format_table
from ..metrics import Scorer
from ..metrics import StreamStats
from ..visualize import heat_numpy


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


def find_topics(bag, source, image_topic=None, label_topic=None, labels=True, tolerance_ns=0):
    """
    Return (image topic, label topic or None, how the label topic was chosen).

    The image topic is the one named, else the bag's only image topic. The label topic is
    the one named (it must exist and be an Image topic), else with ``labels`` an Image topic
    named like a label (*label*, then *mask*) whose first message is mono8 or 8UC1; of
    several such topics, the one whose header stamps match the most image stamps (an extra
    pass over the image headers). Whether a single one's stamps match is seen while scoring.
    """
    present = source.topics
    image_topic = io.find_image_topic(bag, present, image_topic)
    if label_topic:
        if label_topic not in present:
            raise io.BagError(f'{bag}: no topic {label_topic}; the bag has: '
                              f'{io.listing(present)}')
        if present[label_topic][0] != io.IMAGE:
            raise io.BagError(f'{bag}: {label_topic} holds {present[label_topic][0]}, '
                              f'expected {io.IMAGE}')
        return image_topic, label_topic, 'named'
    if not labels:
        return image_topic, None, 'not used (--no-labels)'

    def ignore(*_):
        pass

    def stamps(topic):
        return [io.stamp_ns(m.msg)
                for m in io.read_messages(bag, [topic], on_error=ignore, source=source)]

    mono = []
    for topic in io.label_candidates(present):
        first = next(io.read_messages(bag, [topic], on_error=ignore, source=source), None)
        if topic != image_topic and first is not None and first.msg.encoding in ('mono8',
                                                                                 '8UC1'):
            mono.append(topic)
    if not mono:
        return image_topic, None, 'none in the bag'
    if len(mono) == 1:
        return image_topic, mono[0], 'found (mono8, named like a label)'
    index = StampIndex(stamps(image_topic), tolerance_ns)
    matches = {t: sum(index.match(s) is not None for s in stamps(t)) for t in mono}
    best = max(mono, key=lambda t: matches[t])  # the first of equals: *label* before *mask*
    counts = ', '.join(f'{t} {matches[t]}' for t in mono)
    return image_topic, best, ('found (mono8, named like a label; the most stamps matching '
                               f'the images of {counts})')


def check_topic_types(bag, image_topic, label_topic):
    """Raise BagError unless the bag has an image topic and (if named) an Image label topic."""
    source = io.open_bag(bag)
    try:
        find_topics(bag, source, image_topic, label_topic, labels=False)
    finally:
        source.close()


def count_undecodable(scorer):
    """Return an ``on_error`` callback for read_messages that counts the topic on ``scorer``."""
    def undecodable(topic, stamp, exc):
        scorer.skip(f'{topic}: message does not decode')
    return undecodable


def read_labels(bag, label_topic, scorer, source=None):
    """Return {header stamp: (H, W) uint8 label} of a mono8 topic; count what fails."""
    labels = {}
    for m in io.read_messages(bag, [label_topic], on_error=count_undecodable(scorer),
                              source=source):
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


class SpreadSamples:
    """Keep about ``n`` items spread evenly over a stream of unknown length."""

    def __init__(self, n):
        self.n = n
        self.stride = 1
        self.kept = []
        self.seen = 0

    def offer(self, make):
        """Count one item; call ``make()`` and keep its result when this item is wanted."""
        i = self.seen
        self.seen += 1
        if self.n <= 0 or i % self.stride:
            return
        self.kept.append(make())
        if len(self.kept) >= 2 * self.n:
            self.kept = self.kept[::2]
            self.stride *= 2

    def items(self):
        """Return at most ``n`` of the kept items, evenly spaced."""
        if len(self.kept) <= self.n:
            return list(self.kept)
        idx = np.linspace(0, len(self.kept) - 1, self.n).round().astype(int)
        return [self.kept[i] for i in idx]


@dataclass
class BagEvaluation:
    """Everything one bag's offline evaluation found."""

    bag: str
    image_topic: str
    label_topic: object          # str or None
    label_source: str            # how the label topic was chosen
    scorer: Scorer               # against the labels (nothing scored without them)
    stats: StreamStats           # label-free figures, frame by frame
    samples: list                # (stamp, rgb, mask, label or None), spread over the bag
    cut: object = None           # where a truncated bag ends, or None
    images: int = 0
    images_unmatched: int = 0
    labels_unmatched: int = 0
    seconds: float = 0.0         # segmentation time, all frames
    predictions: dict = field(default_factory=dict)

    def results(self):
        """Return the figures as a JSON-able dict (label-free first, then the scores)."""
        n = int(self.stats.frames)
        res = {'bag': os.path.abspath(self.bag), 'image_topic': self.image_topic,
               'label_topic': self.label_topic, 'label_topic_source': self.label_source,
               'cut': self.cut, 'frames_read': self.images, 'frames_segmented': n,
               'ms_per_frame': 1000 * self.seconds / n if n else math.nan}
        res.update(self.stats.results(self.scorer.class_names))
        res.update(self.scorer.results())
        if self.label_topic:
            res['images_unmatched'] = self.images_unmatched
            res['labels_unmatched'] = self.labels_unmatched
        return res


def evaluate_bag(bag, segmenter, image_topic=None, label_topic=None, tolerance_ns=0,
                 samples=4, max_pixels=None, progress=None, on_frame=None, labels=True,
                 keep_predictions=False, on_total=None):
    """
    Segment every image of a bag; report what it shows, and score it where labels exist.

    Topics are found as ``find_topics`` says. Every decodable image is segmented and adds
    to the label-free figures; an image whose header stamp pairs with a label (exactly or
    within ``tolerance_ns``) is scored as well. ``progress()`` is called per image,
    ``on_frame(stamp, rgb, mask)`` per segmented image, ``on_total(n)`` once with the
    number of images in the bag. An empty bag, or an image topic
    without messages, raises BagError. Returns a BagEvaluation.
    """
    source = io.open_bag(bag)
    try:
        if not source.topics:
            raise io.BagError(f'{bag}: the bag is empty' + (
                f' (cut: {source.cut})' if source.cut else ''))
        image_topic, label_topic, how = find_topics(bag, source, image_topic, label_topic,
                                                    labels, tolerance_ns)
        if not source.topics[image_topic][1]:
            raise io.BagError(f'{bag}: {image_topic} has no messages')
        if on_total:
            on_total(source.topics[image_topic][1])
        scorer = Scorer(segmenter.num_classes, segmenter.info.ignore_index,
                        segmenter.class_names, segmenter.class_colors)
        stats = StreamStats(segmenter.num_classes, segmenter.info.ignore_index)
        ev = BagEvaluation(bag, image_topic, label_topic, how, scorer, stats, [],
                           source.cut)
        label_map = read_labels(bag, label_topic, scorer, source) if label_topic else {}
        index = StampIndex(label_map, tolerance_ns)
        matched = set()
        spread = SpreadSamples(samples)
        outputs = ('mask', 'confidence') + (('uncertainty',) if segmenter.bayesian else ())
        for m in io.read_messages(bag, [image_topic], on_error=count_undecodable(scorer),
                                  source=source):
            ev.images += 1
            if progress:
                progress()
            try:
                rgb = io.decode_rgb(m, max_pixels)
            except (conversions.ConversionError, io.BagError) as e:
                scorer.skip(f'image does not decode ({str(e).split(":")[0]})')
                continue
            stamp = io.stamp_ns(m.msg)
            out = segmenter.segment(rgb, outputs=outputs)
            ev.seconds += out.total_s
            key = index.match(stamp) if label_topic else None
            label = label_map[key] if key is not None else None
            if label_topic and key is None:
                ev.images_unmatched += 1
            if label is not None and scorer.add(out.mask, label, None, stamp):
                matched.add(key)
            else:
                label = None
            stats.add(out.mask, m.timestamp, out.confidence, out.uncertainty, label)
            spread.offer(lambda: (stamp, rgb, out.mask, label) + _extra_panels(out))
            if keep_predictions:
                ev.predictions[stamp] = (m.msg.header.frame_id, out.mask)
            if on_frame:
                on_frame(stamp, rgb, out.mask)
        ev.labels_unmatched = len(label_map) - len(matched)
        if label_topic and label_map and not matched and how != 'named':
            ev.label_source += '; no label stamp matches an image, so nothing was scored'
        ev.samples = spread.items()
        return ev
    finally:
        source.close()


# Heat-map scale of the uncertainty panel: the MC-dropout variance averaged over K classes
# tops out near 1/K; 0.05 puts CamVid's (K = 11) boundaries and unfamiliar objects in view.
UNCERTAINTY_PANEL_TOP = 0.05


def _extra_panels(out):
    """Contact-sheet panels beyond image | overlay | truth: a Bayesian model's uncertainty."""
    if out.uncertainty is None:
        return ()
    return (heat_numpy(out.uncertainty, UNCERTAINTY_PANEL_TOP),)


def offline_evaluate(bag, segmenter, image_topic, label_topic, tolerance_ns=0, samples=4,
                     max_pixels=None, progress=None):
    """
    Run ``segmenter`` on every image of ``image_topic`` and score against ``label_topic``.

    Returns (scorer, results, predictions): the Scorer, the results (label-free figures,
    scores and the unmatched counts), and {image stamp: (frame_id, uint8 mask)} of every
    segmented frame. ``progress`` is called once per image.
    """
    ev = evaluate_bag(bag, segmenter, image_topic, label_topic, tolerance_ns, samples,
                      max_pixels, progress, keep_predictions=True)
    return ev.scorer, ev.results(), ev.predictions


def summary_text(res, class_names):
    """Return the metrics table and frame counts as printable text."""
    text = format_table(res, class_names) if res.get('frames_scored') else 'no frame scored'
    counts = ', '.join(f'{k} {v}' for k, v in res.items()
                       if k.startswith(('frames', 'images_', 'labels_')))
    return f'{text}\n{counts}'
