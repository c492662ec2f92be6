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

"""``segnet_bag``: dataset <-> bag conversion (subcommands ``from-dataset``, ``to-dataset``)."""

import argparse
import os
import sys

from PIL import Image as PILImage
from tqdm import tqdm

from . import io
from .. import conversions
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


def get_args_parser():
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='segnet_bag',
                                description='Convert between labelled datasets and rosbag2.')
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
    return p


def main(argv=None):
    """Entry point; returns the exit code."""
    args = get_args_parser().parse_args(argv)
    try:
        if args.cmd == 'from-dataset':
            n = dataset_to_bag(args.root, args.split, args.out, args.fps, args.compressed,
                               args.camera_info, args.storage, args.image_topic,
                               args.label_topic, args.frame_id, args.limit,
                               stride=args.stride)
            print(f'wrote {n} frames to {args.out}')
        else:
            n, k = bag_to_dataset(args.bag, args.out, args.image_topic, args.label_topic)
            print(f'wrote {n} images and {k} labels to {args.out}')
    except (io.BagError, DatasetError, conversions.ConversionError, ValueError, OSError) as e:
        print(f'segnet_bag: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('segnet_bag: interrupted (the output bag was closed and is readable)',
              file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
