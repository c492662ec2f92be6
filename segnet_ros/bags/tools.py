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
``eval`` (offline: run the model on bags and report, scored where labels exist), ``compare``
(offline: model A against model B on a bag), ``replay`` (live: play a bag into a
running node and score its output).
"""

import argparse
import os
import sys

from PIL import Image as PILImage
from tqdm import tqdm

from . import bagio as io
from .evaluate import summary_text
from .. import conversions
from ..inference import SegmenterError
from ..paths import default_model_path
from ..training.datasets import DatasetError
from ..training.datasets import find_pairs
from ..training.datasets import read_image
from ..training.datasets import read_label
from ..training.datasets import sequence_pairs


def dataset_to_bag(root, split, out, fps=10.0, compressed=None, camera_info=False,
                   storage='sqlite3', image_topic='/camera/image_raw',
                   label_topic='/camera/labels', frame_id='camera', limit=None, start_ns=None,
                   progress=True, stride=1, sequences=()):
    """
    Write a CamVid-layout split to a bag: images, labels (same stamps), camera_info.

    ``compressed`` is None for raw rgb8 Image, or 'jpeg' / 'png' for CompressedImage on
    ``image_topic`` + '/compressed'. ``sequences`` takes every frame of those sequences in
    train and val instead of ``split`` (a ``segnet_train --holdout`` fold's frames).
    Returns the number of frames written.
    """
    if fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    if sequences:
        pairs = sequence_pairs(root, sequences)
    else:
        pairs = find_pairs(root, split)
    pairs = pairs[::max(1, stride)][:limit]
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


def find_bags(paths):
    """
    Expand the ``eval`` arguments to a list of bags.

    A folder with metadata.yaml, a .db3 or a .mcap file is a bag, as is a .mcap file; any
    other folder stands for the bags directly inside it (sorted by name).
    """
    def is_bag(p):
        if os.path.isfile(p):
            return p.endswith('.mcap')
        return os.path.isdir(p) and any(
            n == 'metadata.yaml' or n.endswith(('.db3', '.mcap')) for n in os.listdir(p))

    bags = []
    for p in paths:
        if not os.path.exists(p):
            raise io.BagError(f'{p}: no such bag')
        if is_bag(p) or not os.path.isdir(p):
            bags.append(p)
            continue
        inside = [os.path.join(p, n) for n in sorted(os.listdir(p))]
        found = [q for q in inside if is_bag(q)]
        if not found:
            raise io.BagError(f'{p}: not a readable rosbag2 bag, and no bags inside it')
        bags += found
    return bags


def _distributed():
    """Join the torchrun process group (gloo) when started under torchrun: (rank, world)."""
    import torch.distributed as dist
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group('gloo')
    return dist.get_rank(), dist.get_world_size()


def _gather(obj, world):
    """Return the list of ``obj`` of every process (just [obj] when not distributed)."""
    if world == 1:
        return [obj]
    import torch.distributed as dist
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _bag_dir(out, i, bag, many):
    if not many:
        return out
    name = os.path.basename(os.path.normpath(bag)).replace('.mcap', '')
    return os.path.join(out, f'{i:03d}_{name}')


def run_offline_eval(args):
    """
    Run the ``eval`` subcommand on one bag or many (and under torchrun, a share of them).

    Each bag gets its report; with several, the total (confusion matrix and counts summed,
    the figures computed from the sums) goes to ``--out`` with a row per bag. Under torchrun
    process r takes bags r, r + N, ... and the sums are reduced across the processes.
    """
    import torch

    from .evaluate import evaluate_bag
    from .report import VideoOut
    from .report import write_report
    from ..inference import Segmenter
    from ..metrics import Scorer
    from ..metrics import StreamStats

    rank, world = _distributed()
    bags = find_bags(args.bag)
    many = len(bags) > 1
    if args.write_bag and many:
        raise ValueError('--write-bag takes one bag')
    device = args.device
    if world > 1 and device == 'auto' and torch.cuda.is_available():
        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    seg = Segmenter(args.model, device=device, backend=args.backend, upsample=args.upsample,
                    mc_samples=args.mc_samples)
    seg.warmup()  # the first call's one-off costs stay out of ms_per_frame
    names, colors, k = seg.class_names, seg.class_colors, seg.num_classes
    total = Scorer(k, seg.info.ignore_index, names, colors)
    stats = StreamStats(k, seg.info.ignore_index, timeline=False)
    counts = torch.zeros(4, dtype=torch.int64)  # frames read, unmatched images, labels, bags
    seconds = torch.zeros(1, dtype=torch.float64)
    rows, errors = [], []
    show = rank == 0 and not args.quiet
    mine = list(enumerate(bags))[rank::world]
    for i, bag in tqdm(mine, desc='bags', unit='bag', disable=None if show and many else True,
                       position=0):
        out_dir = _bag_dir(args.out, i, bag, many)
        video = VideoOut(os.path.join(out_dir, 'video.mp4'), colors) if args.video else None
        if video:
            os.makedirs(out_dir, exist_ok=True)
        try:
            bar = tqdm(total=None, desc=os.path.basename(os.path.normpath(bag)), unit='frame',
                       disable=None if show else True, position=1 if many else 0,
                       leave=not many)
            ev = evaluate_bag(bag, seg, args.image_topic, args.label_topic,
                              int(args.tolerance_ms * 1e6), args.samples, progress=bar.update,
                              on_frame=video.add if video else None, labels=not args.no_labels,
                              keep_predictions=bool(args.write_bag), on_total=bar.reset)
            bar.close()
        except (io.BagError, conversions.ConversionError) as e:
            if video:
                video.close()
            if not many and world == 1:
                raise
            errors.append((i, str(e)))
            continue
        note = None
        if video:
            note = video.close() or 'video.mp4'
            if note != 'video.mp4':
                print(f'segnet_bag: no video for {bag}: {note}', file=sys.stderr)
        res = ev.results()
        res.update(model=seg.model_path, device=str(seg.device))
        write_report(out_dir, res, f'Offline evaluation of {bag}', names, colors, ev.scorer,
                     ev.stats.timeline, ev.samples, note)
        total.metrics.cm.mat += ev.scorer.metrics.cm.mat
        total.metrics.bf_sum += ev.scorer.metrics.bf_sum
        total.scored += ev.scorer.scored
        total.skipped.update(ev.scorer.skipped)
        stats.merge(ev.stats)
        counts += torch.tensor([ev.images, ev.images_unmatched, ev.labels_unmatched, 1])
        seconds += ev.seconds
        rows.append((i, bag, res, ev))
    # The sums over every process: integers exactly, floats up to the order of addition.
    if world > 1:
        import torch.distributed as dist
        total.metrics.reduce_from_all_processes()
        stats.reduce_from_all_processes()
        scored = torch.tensor([total.scored])
        for t in (counts, seconds, scored):
            dist.all_reduce(t)
        total.scored = int(scored)
    summaries = [(i, bag, _bag_summary(res)) for i, bag, res, _ in rows]
    gathered = _gather((summaries, errors, dict(total.skipped)), world)
    if world > 1:
        total.skipped.clear()
        for _, _, skipped in gathered:
            total.skipped.update(skipped)
    all_rows = sorted(r for g in gathered for r in g[0])
    all_errors = sorted(e for g in gathered for e in g[1])
    if rank != 0:
        return 0
    if not many and all_errors:
        raise io.BagError(all_errors[0][1])
    for i, err in all_errors:
        print(f'segnet_bag: error: {err}', file=sys.stderr)
    if not many:
        res = rows[0][2]
        print(_label_free_text(res, names))
        print(_scores_text(res, names))
        print(f'report: {os.path.join(args.out, "report.md")}')
        if args.write_bag:
            _write_prediction_bag(args, bag, rows[0][3].predictions)
        return 0 if res['frames_segmented'] else 1
    if not all_rows:
        return 2
    res = {'bags': len(bags), 'bags_evaluated': int(counts[3]), 'processes': world,
           'frames_read': int(counts[0]),
           'ms_per_frame': (1000 * float(seconds) / int(stats.frames)
                            if int(stats.frames) else float('nan'))}
    res.update(stats.results(names))
    res.update(total.results())
    res['images_unmatched'], res['labels_unmatched'] = int(counts[1]), int(counts[2])
    res.update(model=seg.model_path, device=str(seg.device))
    res['per_bag'] = [dict(s, bag=bag, report=os.path.relpath(
        os.path.join(_bag_dir(args.out, i, bag, True), 'report.md'), args.out))
        for i, bag, s in all_rows]
    res['bag_errors'] = [e for _, e in all_errors]
    write_report(args.out, res, f'Offline evaluation of {len(bags)} bags', names, colors,
                 total, extra_lines=_per_bag_lines(res))
    print(_label_free_text(res, names))
    print(_scores_text(res, names))
    print(f"{res['bags_evaluated']} of {len(bags)} bags evaluated; report: "
          f"{os.path.join(args.out, 'report.md')}")
    return 0 if res['frames'] else 1


def _bag_summary(res):
    keys = ('frames_read', 'frames_segmented', 'frames_scored', 'miou', 'flip_rate', 'cut',
            'label_topic', 'ms_per_frame')
    out = {k: res.get(k) for k in keys}
    out['confidence_mean'] = (res.get('confidence') or {}).get('mean')
    return out


def _per_bag_lines(res):
    def pct(v):
        return '-' if v is None or v != v else f'{100 * v:.1f}'
    lines = ['## Bags', '', '| bag | frames | scored | mIoU % | flipped % | confidence | '
             'labels | cut |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in res['per_bag']:
        conf = r['confidence_mean']
        lines.append(f"| [{os.path.basename(os.path.normpath(r['bag']))}]({r['report']}) | "
                     f"{r['frames_segmented']} | {r['frames_scored']} | {pct(r['miou'])} | "
                     f"{pct(r['flip_rate'])} | {'-' if conf is None else f'{conf:.3f}'} | "
                     f"{r['label_topic'] or '-'} | {'yes' if r['cut'] else ''} |")
    lines += [f'- {e}' for e in res['bag_errors']]
    return lines + ['']


def _label_free_text(res, class_names):
    """Return the figures that need no ground truth as printable lines."""
    conf = res.get('confidence') or {}
    lines = [f"{res.get('image_topic') or 'images'}: {res.get('frames', 0)} frames segmented"]
    if 'ms_per_frame' in res:
        lines[0] += f", {res['ms_per_frame']:.1f} ms a frame on {res.get('device')}"
    text = f"pixels changing class between frames {100 * res['flip_rate']:.1f} %"
    if conf:
        text += f"; confidence mean {conf['mean']:.3f}, p5 {conf['p5']:.3f}"
    unc = res.get('uncertainty')
    if unc:
        text += f"; uncertainty mean {unc['mean']:.4f}, p95 {unc['p95']:.4f}"
    lines.append(text)
    share = res.get('class_share', {})
    shares = [f'{n} {100 * share[n]:.1f}' for n in class_names if share.get(n) == share.get(n)]
    lines.append('class share %: ' + ', '.join(shares))
    if res.get('cut'):
        lines.append(f"the bag was cut: {res['cut']}")
    return '\n'.join(lines)


def _scores_text(res, class_names):
    if res.get('label_topic') or res.get('frames_scored'):
        return summary_text(res, class_names)
    return ('no label topic, nothing scored (--label-topic, or a mono8 topic named like '
            '*label* or *mask*, adds the scores)')


def _write_prediction_bag(args, bag, preds):
    with io.BagWriter(args.write_bag, args.storage) as out:
        skipped = io.copy_messages(bag, out)
        for stamp, (frame_id, mask) in sorted(preds.items()):
            out.write(args.prediction_topic, io.IMAGE,
                      io.image_message(mask, 'mono8', stamp, frame_id), stamp)
    note = f' (not copied, unknown types: {", ".join(skipped)})' if skipped else ''
    print(f'wrote {args.write_bag} with {len(preds)} predictions on '
          f'{args.prediction_topic}{note}')


def remap_rule(text):
    """Parse OLD:=NEW (a topic remapping, as ros2 bag play --remap takes it)."""
    old, sep, new = text.partition(':=')
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"'{text}' is not a remapping OLD:=NEW")
    return old, new


def run_replay(args):
    """Run the ``replay`` subcommand."""
    from .report import write_report
    from ..ros.replay import live_replay
    from .. import modelfile

    info = modelfile.read_model_info(args.model)
    # Like ros2 bag play: the bag's own topic, unless --publish-topic or a --remap moves it.
    res, scorer, stats, samples = live_replay(
        args.bag, args.image_topic, args.label_topic, args.publish_topic, args.mask_topic,
        (info.num_classes, info.ignore_index, info.class_names, info.class_colors),
        rate=args.rate, tolerance_ns=int(args.tolerance_ms * 1e6), settle_s=args.settle,
        connect_timeout=args.connect_timeout, record_bag=args.record_bag,
        storage=args.storage, samples=args.samples, labels=not args.no_labels,
        confidence=args.confidence, clock=args.clock, remaps=args.remap or ())
    res.update(bag=os.path.abspath(args.bag), rate=args.rate, mask_topic=args.mask_topic)
    write_report(args.out, res, f'Live replay of {args.bag}', info.class_names,
                 info.class_colors, scorer, stats.timeline, samples)
    print(_scores_text(res, info.class_names))
    dropped = res['frames_dropped_by_node']
    print(f"sent {res['frames_sent']}, received {res['outputs_received']}, dropped by the node "
          f"{'unknown (no /diagnostics from it)' if dropped is None else dropped}; "
          f"latency ms p50 {res['latency_ms_p50']:.1f}, "
          f"p95 {res['latency_ms_p95']:.1f}, max {res['latency_ms_max']:.1f}; throughput "
          f"{res['throughput_hz']:.1f} Hz at input {res['input_rate_hz']:.1f} Hz")
    if res['frames']:
        print(_label_free_text(res, info.class_names))
    c = res['node_counters']
    if c and (c['frames_received'] != res['frames_sent'] or c['frames_processed'] + c[
            'frames_dropped'] != c['frames_received']):
        # More happened than segmenting and dropping stale frames: show the node's counts.
        print("the node's own counts: " + ', '.join(f'{k} {v}' for k, v in c.items()))
    print(f'report: {os.path.join(args.out, "report.md")}')
    return 0 if res['outputs_received'] else 1


def run_compare(args):
    """Run the ``compare`` subcommand."""
    from .compare import compare_models
    from .compare import write_compare_report
    from ..inference import Segmenter

    if len(args.model) != 2:
        raise ValueError(f'compare takes --model twice (A, then B), got {len(args.model)}')
    seg_a, seg_b = (Segmenter(m, device=args.device, upsample=args.upsample)
                    for m in args.model)
    bar = tqdm(desc='frames', unit='frame', disable=True if args.quiet else None)
    res, rows, _ = compare_models(args.bag, seg_a, seg_b, args.image_topic, args.label_topic,
                                  int(args.tolerance_ms * 1e6), args.samples, bar.update,
                                  labels=not args.no_labels)
    bar.close()
    write_compare_report(args.out, res, rows, seg_a.class_names, seg_a.class_colors)
    sa, sb = res['ms_per_frame_a'], res['ms_per_frame_b']
    print(f"{res['frames']} frames; B agrees with A on {100 * res['pixel_agreement']:.1f} % "
          f"of the pixels, mIoU of B against A {100 * res['miou_b_vs_a']:.1f} %")
    print(f"ms a frame: A {sa['mean']:.1f} (p95 {sa['p95']:.1f}), B {sb['mean']:.1f} "
          f"(p95 {sb['p95']:.1f})")
    if 'scores_a' in res and res['scores_a'].get('frames_scored'):
        print(f"mIoU against {res['label_topic']}: A {100 * res['scores_a']['miou']:.1f}, "
              f"B {100 * res['scores_b']['miou']:.1f} ({res['scores_a']['frames_scored']} "
              'frames)')
    print(f'report: {os.path.join(args.out, "report.md")}')
    return 0 if res['frames'] else 1


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
    a.add_argument('--sequence', action='append', default=[], metavar='SEQ',
                   help='every frame of sequence SEQ in train and val instead of --split '
                   '(the frames of the segnet_train --holdout SEQ fold); repeatable')
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
    c.add_argument('bag', nargs='+', help='bags, or folders of bags')
    c.add_argument('--model', default=default_model_path(), help='model file')
    c.add_argument('--image-topic', help="image topic (default: the bag's only one)")
    c.add_argument('--label-topic', help='mono8 ground truth (default: a mono8 topic named '
                   'like *label* or *mask*, if any)')
    c.add_argument('--no-labels', action='store_true', help='do not look for a label topic')
    c.add_argument('--mc-samples', type=int, default=8,
                   help='MC-dropout samples of a Bayesian model (its uncertainty)')
    c.add_argument('--video', action='store_true', help='also write video.mp4 of the overlays')
    c.add_argument('--quiet', action='store_true', help='no progress bars')
    c.add_argument('--tolerance-ms', type=float, default=0.0,
                   help='pair to the nearest label stamp within this (0 = exact)')
    c.add_argument('--device', default='auto')
    c.add_argument('--backend', default='auto', choices=('auto', 'torch', 'onnxruntime'))
    c.add_argument('--upsample', default='mask', choices=('mask', 'logits'),
                   help='as the node parameter of the same name')
    c.add_argument('--samples', type=int, default=6,
                   help='image | overlay samples spread over the bag, in the report')
    c.add_argument('--out', default='out/eval', help='report folder')
    c.add_argument('--write-bag', help='new bag: the input topics plus the predicted masks')
    c.add_argument('--prediction-topic', default='/segnet/class_mask')
    c.add_argument('--storage', choices=sorted(io.STORAGES), default='sqlite3')
    m = sub.add_parser('compare', help='offline: model A against model B on one bag')
    m.add_argument('bag')
    m.add_argument('--model', action='append', required=True,
                   help='model file; give it twice: A, then B')
    m.add_argument('--image-topic', help='image topic (default: the only one in the bag)')
    m.add_argument('--label-topic', help='mono8 ground truth (default: found as for eval)')
    m.add_argument('--no-labels', action='store_true', help='do not look for a label topic')
    m.add_argument('--tolerance-ms', type=float, default=0.0)
    m.add_argument('--device', default='auto')
    m.add_argument('--upsample', default='mask', choices=('mask', 'logits'))
    m.add_argument('--samples', type=int, default=4,
                   help='frames where the models disagree most, in the report')
    m.add_argument('--out', default='out/compare', help='report folder')
    m.add_argument('--quiet', action='store_true', help='no progress bar')
    r = sub.add_parser('replay', help='live: play a bag into a running node and score it')
    r.add_argument('bag')
    r.add_argument('--image-topic', help='image topic in the bag (default: its only one)')
    r.add_argument('--label-topic', help='ground truth in the bag (default: a mono8 topic '
                   'named like *label* or *mask*, if any)')
    r.add_argument('--no-labels', action='store_true', help='do not look for a label topic')
    r.add_argument('--samples', type=int, default=6, help='image | overlay samples')
    r.add_argument('--confidence', action='store_true',
                   help="also record the node's confidence (and Bayesian uncertainty) topics "
                   '(the node then computes them)')
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
    r.add_argument('--interrupted-exit-code', type=int, default=130, metavar='N',
                   help='exit code after Ctrl-C, report and bag closed (default 130, as '
                   'shells expect; replay_eval.launch.py passes 0: launch calls any other '
                   'code an ERROR)')
    return p


def main(argv=None):
    """Entry point; returns the exit code."""
    args = get_args_parser().parse_args(argv)
    try:
        return _run(args)
    finally:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _run(args):
    try:
        if args.cmd == 'eval':
            return run_offline_eval(args)
        if args.cmd == 'replay':
            return run_replay(args)
        if args.cmd == 'compare':
            return run_compare(args)
        if args.cmd == 'from-dataset':
            n = dataset_to_bag(args.root, args.split, args.out, args.fps, args.compressed,
                               args.camera_info, args.storage, args.image_topic,
                               args.label_topic, args.frame_id, args.limit,
                               stride=args.stride, sequences=args.sequence)
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
        return getattr(args, 'interrupted_exit_code', 130)
    return 0


if __name__ == '__main__':
    sys.exit(main())
