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

"""``segnet_eval``: score a model file on a dataset folder; print the table, write JSON."""

import argparse
import json
import os
import sys
import tempfile

from tqdm import tqdm

from . import plots
from .datasets import DatasetError
from .datasets import SegmentationDataset
from .datasets import sequence_pairs
from ..camera import parse_frame_size
from ..inference import PRECISIONS
from ..inference import Segmenter
from ..inference import SegmenterError
from ..inference import UPSAMPLING
from ..metrics import format_table
from ..metrics import Scorer
from ..modelfile import ModelFileError


def evaluate_model_file(model_path, data_root, split='val', device='auto', boundary=True,
                        input_size=None, upsample='mask', progress=False, precision='auto',
                        sequences=(), flip=False):
    """
    Return (results, confusion matrix, info) for a model file on a dataset split.

    Each image goes through the inference core (``Segmenter``) at its own resolution and its
    mask is scored against the label at the label's resolution, by the same ``Scorer`` as
    ``segnet_bag eval``. ``upsample`` is the node parameter of that name: ``mask`` (the
    node's default) resizes the network-resolution mask, ``logits`` the class scores.
    ``sequences`` scores every frame of those sequences in the train and val splits instead
    of ``split``: the frames a ``segnet_train --holdout`` fold is scored on. ``flip`` is
    test-time flip (``Segmenter``).
    """
    seg = Segmenter(model_path, device=device, input_size=input_size, upsample=upsample,
                    precision=precision, flip=flip)
    info = seg.info
    pairs = None
    if sequences:
        pairs = sequence_pairs(data_root, sequences)
    ds = SegmentationDataset(data_root, split, info.num_classes, info.ignore_index, cache=False,
                             pairs=pairs)
    scorer = Scorer(info.num_classes, info.ignore_index, info.class_names, info.class_colors,
                    boundary=boundary)
    for i in tqdm(range(len(ds)), desc='evaluate', unit='image', file=sys.stderr,
                  disable=None if progress else True, leave=False):
        rgb, label = ds.load(i)  # checks sizes and label values
        scorer.add(seg.segment(rgb, outputs=('mask',)).mask, label)
    res = scorer.results()
    res['images'] = scorer.scored
    res['input_size'] = list(seg.input_size)  # (h, w) the network ran at
    return res, scorer.metrics.cm.mat, info


def get_args_parser():
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='segnet_eval', description=__doc__.split('\n')[0])
    p.add_argument('model', help='.safetensors model file')
    p.add_argument('--data', required=True, help='dataset folder (CamVid layout)')
    p.add_argument('--split', default='val')
    p.add_argument('--sequence', action='append', default=[], metavar='SEQ',
                   help='score every frame of sequence SEQ in train and val instead of '
                   '--split (the frames of the segnet_train --holdout SEQ fold); repeatable')
    p.add_argument('--flip', action='store_true',
                   help='test-time flip: average the scores of each frame and its mirror')
    p.add_argument('--device', default='auto')
    p.add_argument('--precision', default='auto', choices=PRECISIONS,
                   help="as the node parameter: 'auto' scores what the node runs here "
                   '(bf16 on CPUs with native bf16); training records fp32 scores')
    p.add_argument('--upsample', default='mask', choices=UPSAMPLING,
                   help='as the node parameter of the same name (default: %(default)s)')
    p.add_argument('--batch-size', type=int, default=2,
                   help='ignored: images are segmented one at a time, as the node does '
                   '(kept so that older command lines still run)')
    p.add_argument('--recompute-bn', metavar='SPLIT', nargs='?', const='train',
                   help='first recompute BatchNorm statistics over this split of --data '
                   '(default train), as the paper does before evaluation; the model file '
                   'itself is left as it is')
    p.add_argument('--input-size', type=parse_frame_size, metavar='WxH',
                   help="network input size, as the node's inference_width/height "
                        "(default: the model file's)")
    p.add_argument('--json', help='write the metrics here')
    p.add_argument('--confusion', help='write the confusion-matrix PNG here')
    p.add_argument('--no-bf', action='store_true', help='skip the boundary F1 score')
    return p


def main(argv=None):
    """Entry point; returns the exit code."""
    args = get_args_parser().parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix='segnet_eval_') as tmp:
            model = args.model
            if args.recompute_bn:
                from .export import recompute_bn_file
                model = os.path.join(tmp, 'bn.safetensors')
                recompute_bn_file(args.model, args.data, model, split=args.recompute_bn)
            res, mat, info = evaluate_model_file(model, args.data, args.split, args.device,
                                                 boundary=not args.no_bf,
                                                 upsample=args.upsample, progress=True,
                                                 precision=args.precision,
                                                 sequences=args.sequence, flip=args.flip,
                                                 input_size=args.input_size and
                                                 args.input_size[::-1])
    except (DatasetError, SegmenterError, ModelFileError) as e:
        print(f'segnet_eval: error: {e}', file=sys.stderr)
        return 2
    if args.recompute_bn:
        print(f'BatchNorm statistics: {info.bn_statistics}')
    where = 'sequence ' + '+'.join(args.sequence) if args.sequence else args.split
    print(f'{os.path.basename(args.model)} on {args.data} [{where}], '
          f"{res['images']} images, network input {res['input_size'][1]}x{res['input_size'][0]}, "
          f'upsample {args.upsample}' + (', flip' if args.flip else ''))
    print(format_table(res, info.class_names))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'model': os.path.abspath(args.model), 'split': args.split,
                       'sequences': args.sequence, 'flip': args.flip,
                       'bn_statistics': info.bn_statistics,
                       'upsample': args.upsample, 'class_names': info.class_names, **res,
                       'confusion': mat.tolist()}, f, indent=1)
    if args.confusion:
        plots.plot_confusion(mat, info.class_names, args.confusion)
    return 0


if __name__ == '__main__':
    sys.exit(main())
