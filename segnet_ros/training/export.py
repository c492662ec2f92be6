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

"""``segnet_export``: a training checkpoint to a model file, and a model file to ONNX."""

import argparse
import sys

import torch

from .datasets import DatasetError
from .datasets import load_classes
from .. import modelfile
from ..camera import parse_frame_size
from ..nets import build_model
from ..onnx_export import export_onnx
from ..onnx_export import ONNX_OPSET


def set_input_size(info, input_size):
    """
    Make (height, width) ``input_size`` the network input of ``info`` (None: keep it).

    It is the size the node resizes each frame to. A model fine-tuned at one size may score
    best at another (the bundled one: trained at 408x544, run at 384x512, chosen on the
    cross-sequence folds); the size it was trained at stays in ``training``, and the
    metrics say where they were scored.
    """
    if input_size is None:
        return
    info.training = dict(info.training or {})
    info.training.setdefault('input_size', list(info.input_size))
    if info.metrics and 'input_size' not in info.metrics:
        info.metrics = dict(info.metrics, input_size=list(info.input_size))
    info.input_size = [int(input_size[0]), int(input_size[1])]


def checkpoint_to_model_file(ckpt, out, input_size=None, dtype=None):
    """Write the weights of a ``last.ckpt`` to a self-describing model file."""
    state = modelfile.load_state(ckpt)
    cfg = state['config']
    classes = load_classes(cfg['classes'])
    # Checkpoints from before the lrn option fed SegNet-Basic's LRN normalised input.
    lrn = cfg.get('lrn', 'normalised')
    model = build_model(cfg['architecture'], classes['num_classes'], cfg['width'], lrn=lrn,
                        mean=cfg['mean'], std=cfg['std'])
    model.load_state_dict(state['model'])
    info = modelfile.default_info(
        cfg['architecture'], classes['num_classes'], width=float(cfg['width']),
        class_names=classes['class_names'], class_colors=classes['class_colors'],
        ignore_index=classes['ignore_index'], input_size=list(cfg['input_size']),
        mean=list(cfg['mean']), std=list(cfg['std']),
        metrics={'note': f"checkpoint at epoch {state['epoch']}"})
    set_input_size(info, input_size)
    modelfile.save_model_file(out, model, info, dtype)


def recompute_bn_file(model_path, data_root, out, split='train', batch_size=8,
                      device='cpu', input_size=None, dtype=None):
    """Write a copy of a model file whose BatchNorm statistics are recomputed on ``split``."""
    from . import engine
    from .datasets import SegmentationDataset
    from .transforms import collate
    from .transforms import PairTransform
    model, info = modelfile.load_model_file(model_path, device)
    tf = PairTransform(info.mean, info.std, info.ignore_index, resize=info.input_size)
    ds = SegmentationDataset(data_root, split, info.num_classes, info.ignore_index, tf,
                             cache=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, collate_fn=collate)
    engine.recompute_bn(model, loader, torch.device(device))
    info.bn_statistics = f'recomputed on {split} ({len(ds)} images)'
    set_input_size(info, input_size)  # after the statistics, taken at the trained size
    modelfile.save_model_file(out, model, info, dtype)


def is_model_file(path):
    """Return True for a model file, False for anything else (a checkpoint)."""
    try:
        modelfile.read_model_info(path)
    except modelfile.ModelFileError:
        return False
    return True


def copy_model_file(src, out, input_size=None, dtype=None):
    """Write a copy of model file ``src``, optionally with another input size or dtype."""
    model, info = modelfile.load_model_file(src)
    set_input_size(info, input_size)
    modelfile.save_model_file(out, model, info, dtype)


def get_args_parser():
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='segnet_export', description=__doc__.split('\n')[0])
    p.add_argument('source', help='last.ckpt (training checkpoint) or a .safetensors model')
    p.add_argument('--model-file', help='write a .safetensors model file (from a checkpoint)')
    p.add_argument('--onnx', help='write an ONNX file (from a model file)')
    p.add_argument('--opset', type=int, default=ONNX_OPSET)
    p.add_argument('--fp16', action='store_true', help='fp16 weights in the model file and the '
                   'ONNX file (for GPUs: half the size; the node loads either)')
    p.add_argument('--input-size', type=parse_frame_size, metavar='WxH',
                   help='with --model-file: the network input size written into it (the size '
                   'the node resizes frames to); default: the size it was trained at')
    p.add_argument('--recompute-bn', metavar='DATA',
                   help='with --model-file from a model file: recompute BatchNorm statistics '
                   'on the train split of this dataset folder (as the paper does)')
    return p


def main(argv=None):
    """Entry point; returns the exit code."""
    args = get_args_parser().parse_args(argv)
    if not args.model_file and not args.onnx:
        print('segnet_export: error: give --model-file and/or --onnx', file=sys.stderr)
        return 2
    if args.input_size and not args.model_file:
        print('segnet_export: error: --input-size goes with --model-file', file=sys.stderr)
        return 2
    try:
        src = args.source
        size = args.input_size[::-1] if args.input_size else None  # (height, width)
        dtype = torch.float16 if args.fp16 else None
        if args.model_file and args.recompute_bn:
            recompute_bn_file(src, args.recompute_bn, args.model_file, input_size=size,
                              dtype=dtype)
            print(f'wrote {args.model_file}')
            src = args.model_file
        elif args.model_file:
            if is_model_file(src):
                copy_model_file(src, args.model_file, size, dtype)
            else:
                checkpoint_to_model_file(src, args.model_file, size, dtype)
            print(f'wrote {args.model_file}')
            src = args.model_file
        if args.onnx:
            export_onnx(src, args.onnx, args.opset, args.fp16)
            print(f'wrote {args.onnx}')
    except (modelfile.ModelFileError, DatasetError, ValueError, OSError) as e:
        print(f'segnet_export: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
