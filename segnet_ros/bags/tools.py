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
``segnet_bag``: labelled datasets <-> rosbag2, and evaluation on bags.

Subcommands: ``from-dataset`` (dataset split -> bag), ``to-dataset`` (bag -> PNG files),
``eval`` (offline: run the model on a bag and score it), ``replay`` (live: play a bag into a
running node and score its output).
"""

import argparse
import os
import sys

from PIL import Image as PILImage
from tqdm import tqdm

from . import bagio as io
from .. import conversions
from ..inference import SegmenterError
from ..paths import default_model_path
from ..training.datasets import DatasetError
from ..training.datasets import find_pairs
from ..training.datasets import read_image
from ..training.datasets import read_label


def dataset_to_bag(root, split, out, fps=10.0, compressed=None, camera_info=False,
                   storage='sqlite3', image_topic='/camera/image_raw',
                   label_topic='/camera/labels', frame_id='camera', limit=None, start_ns=None,
                   progress=True, stride=1):
    """
    Write a CamVid-layout split to a bag: images, labels (same stamps), camera_info.

    ``compressed`` is None for raw rgb8 Image, or 'jpeg' / 'png' for CompressedImage on
    ``image_topic`` + '/compressed'. Returns the number of frames written.
    """
    if fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    pairs = find_pairs(root, split)[::max(1, stride)][:limit]
    period = int(round(1e9 / fps))
    t0 = start_ns if start_ns is not None else 1_700_000_000 * 1_000_000_000
    img_topic = image_topic + '/compressed' if compressed else image_topic
    info_topic = image_topic.rsplit('/', 1)[0] + '/camera_info'
    with io.BagWriter(out, storage) as bag:
        for i, (img_path, lbl_path) in enumerate(tqdm(pairs, desc='frames', unit='frame',
                                                      disable=None if progress else True)):
            rgb, lbl = read_image(img_path), read_label(lbl_path)
            if rgb.shape[:2] != lbl.shape:
                raise DatasetError(f'{img_path} and {lbl_path} differ in size')
            t = t0 + i * period
            if compressed:
                bag.write(img_topic, io.COMPRESSED,
                          io.compressed_message(rgb, compressed, t, frame_id), t)
            else:
                bag.write(img_topic, io.IMAGE, io.image_message(rgb, 'rgb8', t, frame_id), t)
            bag.write(label_topic, io.IMAGE, io.image_message(lbl, 'mono8', t, frame_id), t)
            if camera_info:
                h, w = lbl.shape
                bag.write(info_topic, io.CAMERA_INFO,
                          io.camera_info_message(w, h, t, frame_id), t)
    return len(pairs)


def bag_to_dataset(bag, out, image_topic, label_topic=None, progress=True):
    """
    Export an image topic (and a mask topic) to ``out/images`` and ``out/labels`` PNGs.

    Files are named by header stamp so images and labels pair up. Returns (images, labels).
    """
    wanted = [image_topic] + ([label_topic] if label_topic else [])
    counts = {'images': 0, 'labels': 0}
    os.makedirs(os.path.join(out, 'images'), exist_ok=True)
    if label_topic:
        os.makedirs(os.path.join(out, 'labels'), exist_ok=True)
    for m in tqdm(io.read_messages(bag, wanted), desc='messages', unit='msg',
                  disable=None if progress else True):
        name = f'{io.stamp_ns(m.msg):020d}.png'
        if m.topic == image_topic:
            PILImage.fromarray(io.decode_rgb(m)).save(os.path.join(out, 'images', name))
            counts['images'] += 1
        else:
            PILImage.fromarray(io.decode_label(m)).save(os.path.join(out, 'labels', name))
            counts['labels'] += 1
    return counts['images'], counts['labels']


def run_offline_eval(args):
    """Run the ``eval`` subcommand."""
    from .evaluate import offline_evaluate
    from .evaluate import summary_text
    from .evaluate import write_report
    from ..inference import Segmenter

    seg = Segmenter(args.model, device=args.device, backend=args.backend,
                    upsample=args.upsample)
    n = io.topics(args.bag).get(args.image_topic, (None, 0))[1]
    bar = tqdm(total=n, desc='frames', unit='frame', disable=None)
    scorer, res, preds = offline_evaluate(
        args.bag, seg, args.image_topic, args.label_topic, int(args.tolerance_ms * 1e6),
        args.samples, progress=bar.update)
    bar.close()
    res = write_report(args.out, res, scorer, f'Offline evaluation of {args.bag}',
                       {'model': seg.model_path, 'bag': os.path.abspath(args.bag),
                        'device': str(seg.device)})
    print(summary_text(res, seg.class_names))
    print(f'report: {os.path.join(args.out, "report.md")}')
    if args.write_bag:
        with io.BagWriter(args.write_bag, args.storage) as out:
            skipped = io.copy_messages(args.bag, out)
            for stamp, (frame_id, mask) in sorted(preds.items()):
                out.write(args.prediction_topic, io.IMAGE,
                          io.image_message(mask, 'mono8', stamp, frame_id), stamp)
        note = f' (not copied, unknown types: {", ".join(skipped)})' if skipped else ''
        print(f'wrote {args.write_bag} with {len(preds)} predictions on '
              f'{args.prediction_topic}{note}')
    return 0 if res['frames_scored'] else 1


def remap_rule(text):
    """Parse OLD:=NEW (a topic remapping, as ros2 bag play --remap takes it)."""
    old, sep, new = text.partition(':=')
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"'{text}' is not a remapping OLD:=NEW")
    return old, new


def remap(topic, rules):
    """Return ``topic`` after the first matching (old, new) rule."""
    for old, new in rules or ():
        if topic == old or topic.lstrip('/') == old.lstrip('/'):
            return new
    return topic


def run_replay(args):
    """Run the ``replay`` subcommand."""
    from .evaluate import summary_text
    from .evaluate import write_report
    from ..ros.replay import live_replay
    from .. import modelfile

    info = modelfile.read_model_info(args.model)
    # Like ros2 bag play: the bag's own topic, unless --publish-topic or a --remap moves it.
    publish_topic = remap(args.publish_topic or args.image_topic, args.remap)
    res, scorer = live_replay(
        args.bag, args.image_topic, args.label_topic, publish_topic, args.mask_topic,
        (info.num_classes, info.ignore_index, info.class_names, info.class_colors),
        rate=args.rate, tolerance_ns=int(args.tolerance_ms * 1e6), settle_s=args.settle,
        connect_timeout=args.connect_timeout, record_bag=args.record_bag,
        storage=args.storage, clock=args.clock)
    res = write_report(args.out, res, scorer, f'Live replay of {args.bag}',
                       {'bag': os.path.abspath(args.bag), 'rate': args.rate,
                        'mask_topic': args.mask_topic})
    print(summary_text(res, info.class_names))
    dropped = res['frames_dropped_by_node']
    print(f"sent {res['frames_sent']}, received {res['outputs_received']}, dropped by the node "
          f"{'unknown (no /diagnostics from it)' if dropped is None else dropped}; "
          f"latency ms p50 {res['latency_ms_p50']:.1f}, "
          f"p95 {res['latency_ms_p95']:.1f}, max {res['latency_ms_max']:.1f}; throughput "
          f"{res['throughput_hz']:.1f} Hz at input {res['input_rate_hz']:.1f} Hz")
    c = res['node_counters']
    if c and (c['frames_received'] != res['frames_sent'] or c['frames_processed'] + c[
            'frames_dropped'] != c['frames_received']):
        # More happened than segmenting and dropping stale frames: show the node's counts.
        print("the node's own counts: " + ', '.join(f'{k} {v}' for k, v in c.items()))
    print(f'report: {os.path.join(args.out, "report.md")}')
    return 0 if res['outputs_received'] else 1


def get_args_parser():
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='segnet_bag',
                                description='Convert between labelled datasets and rosbag2; '
                                'score the model on a bag, offline or against a running node.')
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('from-dataset', help='dataset folder (CamVid layout) -> bag')
    a.add_argument('root', help='dataset folder')
    a.add_argument('out', help='new bag folder')
    a.add_argument('--split', default='val')
    a.add_argument('--fps', type=float, default=10.0, help='frame rate of the stamps')
    a.add_argument('--compressed', choices=('jpeg', 'png'),
                   help='write CompressedImage on <image-topic>/compressed instead of Image')
    a.add_argument('--camera-info', action='store_true', help='also write camera_info')
    a.add_argument('--storage', choices=sorted(io.STORAGES), default='sqlite3')
    a.add_argument('--image-topic', default='/camera/image_raw')
    a.add_argument('--label-topic', default='/camera/labels')
    a.add_argument('--frame-id', default='camera')
    a.add_argument('--limit', type=int, help='only the first N frames')
    a.add_argument('--stride', type=int, default=1, help='take every Nth frame')
    b = sub.add_parser('to-dataset', help='bag -> PNG files')
    b.add_argument('bag')
    b.add_argument('out', help='output folder (images/ and labels/ are created)')
    b.add_argument('--image-topic', default='/camera/image_raw')
    b.add_argument('--label-topic', help='mask topic to export too (mono8)')
    c = sub.add_parser('eval', help='offline: run the model on a bag and score it')
    c.add_argument('bag')
    c.add_argument('--model', default=default_model_path(), help='model file')
    c.add_argument('--image-topic', default='/camera/image_raw')
    c.add_argument('--label-topic', default='/camera/labels')
    c.add_argument('--tolerance-ms', type=float, default=0.0,
                   help='pair to the nearest label stamp within this (0 = exact)')
    c.add_argument('--device', default='auto')
    c.add_argument('--backend', default='auto', choices=('auto', 'torch', 'onnxruntime'))
    c.add_argument('--upsample', default='mask', choices=('mask', 'logits'),
                   help='as the node parameter of the same name')
    c.add_argument('--samples', type=int, default=4, help='overlay samples in the report')
    c.add_argument('--out', default='out/eval', help='report folder')
    c.add_argument('--write-bag', help='new bag: the input topics plus the predicted masks')
    c.add_argument('--prediction-topic', default='/segnet/class_mask')
    c.add_argument('--storage', choices=sorted(io.STORAGES), default='sqlite3')
    r = sub.add_parser('replay', help='live: play a bag into a running node and score it')
    r.add_argument('bag')
    r.add_argument('--image-topic', default='/camera/image_raw', help='image topic in the bag')
    r.add_argument('--label-topic', default='/camera/labels', help='ground truth in the bag')
    r.add_argument('--remap', type=remap_rule, action='append', metavar='OLD:=NEW',
                   help="publish the bag's topic OLD on NEW (repeatable), as ros2 bag play")
    r.add_argument('--clock', action='store_true',
                   help="publish /clock from the bag's stamps (for use_sim_time:=true nodes)")
    r.add_argument('--publish-topic', default=None,
                   help="topic to publish the images on (default: the bag's own, after --remap)")
    r.add_argument('--mask-topic', default='/segnet/class_mask', help="the node's mask topic")
    r.add_argument('--model', default=default_model_path(),
                   help='model file whose classes the node uses (for names and colours)')
    r.add_argument('--rate', type=float, default=1.0, help='factor on the bag rate')
    r.add_argument('--tolerance-ms', type=float, default=0.0)
    r.add_argument('--settle', type=float, default=5.0,
                   help='seconds to wait for outputs after the last frame')
    r.add_argument('--connect-timeout', type=float, default=60.0)
    r.add_argument('--record-bag', help="new bag with the node's masks")
    r.add_argument('--storage', choices=sorted(io.STORAGES), default='sqlite3')
    r.add_argument('--out', default='out/replay', help='report folder')
    return p


def main(argv=None):
    """Entry point; returns the exit code."""
    args = get_args_parser().parse_args(argv)
    try:
        if args.cmd == 'eval':
            return run_offline_eval(args)
        if args.cmd == 'replay':
            return run_replay(args)
        if args.cmd == 'from-dataset':
            n = dataset_to_bag(args.root, args.split, args.out, args.fps, args.compressed,
                               args.camera_info, args.storage, args.image_topic,
                               args.label_topic, args.frame_id, args.limit,
                               stride=args.stride)
            print(f'wrote {n} frames to {args.out}')
        else:
            n, k = bag_to_dataset(args.bag, args.out, args.image_topic, args.label_topic)
            print(f'wrote {n} images and {k} labels to {args.out}')
    except (io.BagError, DatasetError, conversions.ConversionError, ValueError, OSError,
            SegmenterError, TimeoutError) as e:
        print(f'segnet_bag: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('segnet_bag: interrupted (the output bag was closed and is readable)',
              file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
