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

import torch

from . import engine
from . import plots
from .datasets import DatasetError
from .datasets import SegmentationDataset
from .transforms import collate
from .transforms import PairTransform
from .. import modelfile
from ..inference import resolve_device
from ..inference import SegmenterError
from ..metrics import format_table


def evaluate_model_file(model_path, data_root, split='val', device='auto', batch_size=2,
                        boundary=True, input_size=None):
    """Return (results dict, confusion matrix, info) for a model file on a dataset split."""
    dev = resolve_device(device)
    model, info = modelfile.load_model_file(model_path, dev)
    size = input_size or info.input_size
    tf = PairTransform(info.mean, info.std, info.ignore_index, resize=size,
                       resize_label=False)
    ds = SegmentationDataset(data_root, split, info.num_classes, info.ignore_index, tf,
                             cache=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, collate_fn=collate)
    res, mat = engine.evaluate(model, loader, info.num_classes, info.ignore_index, dev,
                               amp=dev.type == 'cuda', boundary=boundary)
    return res, mat, info


def get_args_parser():
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='segnet_eval', description=__doc__.split('\n')[0])
    p.add_argument('model', help='.safetensors model file')
    p.add_argument('--data', required=True, help='dataset folder (CamVid layout)')
    p.add_argument('--split', default='val')
    p.add_argument('--device', default='auto')
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--json', help='write the metrics here')
    p.add_argument('--confusion', help='write the confusion-matrix PNG here')
    p.add_argument('--no-bf', action='store_true', help='skip the boundary F1 score')
    return p


def main(argv=None):
    """Entry point; returns the exit code."""
    args = get_args_parser().parse_args(argv)
    try:
        res, mat, info = evaluate_model_file(args.model, args.data, args.split, args.device,
                                             args.batch_size, not args.no_bf)
    except (modelfile.ModelFileError, DatasetError, SegmenterError) as e:
        print(f'segnet_eval: error: {e}', file=sys.stderr)
        return 2
    print(f'{os.path.basename(args.model)} on {args.data} [{args.split}], '
          f"{res['images']} images")
    print(format_table(res, info.class_names))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'model': os.path.abspath(args.model), 'split': args.split,
                       'class_names': info.class_names, **res,
                       'confusion': mat.tolist()}, f, indent=1)
    if args.confusion:
        plots.plot_confusion(mat, info.class_names, args.confusion)
    return 0


if __name__ == '__main__':
    sys.exit(main())
