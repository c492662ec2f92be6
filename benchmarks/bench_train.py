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
Training throughput: images/s and time spent waiting for data, per recipe, in one run.

Runs a fixed number of optimisation steps of each config (the bundled light recipe and the
paper's SegNet) on the dataset given, or on generated 360x480 data when none is.

    .venv/bin/python benchmarks/bench_train.py --data ../shared/datasets/camvid --steps 10
"""

import argparse
import itertools
import os
import sys
import tempfile

import numpy as np
from PIL import Image
from segnet_ros.nets import build_model
from segnet_ros.stats import save_json
from segnet_ros.training import engine
from segnet_ros.training.datasets import load_classes
from segnet_ros.training.train import build_loaders
from segnet_ros.training.train import load_config
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_dataset(root, n=16):
    """Write n random 360x480 image/label pairs in CamVid layout."""
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, split + 'annot'))
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)).save(
                os.path.join(root, split, f'{i}.png'))
            Image.fromarray(rng.integers(0, 11, (360, 480), dtype=np.uint8)).save(
                os.path.join(root, split + 'annot', f'{i}.png'))


def measure(cfg_path, data, steps, device):
    """Images/s and data wait over ``steps`` steps (after one warm-up step)."""
    cfg = load_config(os.path.join(ROOT, cfg_path))
    cfg['classes'] = os.path.join(ROOT, cfg['classes'])
    if device.type == 'cpu':
        cfg['workers'] = 0
    classes = load_classes(cfg['classes'])
    cfg['ignore_index'] = classes['ignore_index']
    train_set, loader, _, _ = build_loaders(cfg, data, classes, 0, 1)
    model = build_model(cfg['architecture'], classes['num_classes'], cfg['width']).to(device)
    if cfg['channels_last'] and device.type == 'cpu':
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0)
    scaler = torch.amp.GradScaler('cuda', enabled=cfg['amp'] and device.type == 'cuda')
    weight = torch.ones(classes['num_classes'], device=device)
    cfg = dict(cfg, progress=False)
    # The loader itself runs, so decoding and augmentation count as data wait.
    limited = list(itertools.islice(iter(loader), 1))
    engine.train_one_epoch(model, limited, opt, sched, scaler, device, 0, cfg, weight)
    stats = engine.train_one_epoch(model, itertools.islice(iter(loader), steps), opt, sched,
                                   scaler, device, 0, cfg, weight)
    return {'config': cfg_path, 'architecture': cfg['architecture'], 'width': cfg['width'],
            'batch': cfg['batch_size'], 'crop': cfg['crop'] or cfg['input_size'],
            'bf16': bool(cfg['cpu_bf16']) and device.type == 'cpu',
            'images_per_s': stats['images_per_s'],
            'data_wait_share': stats['data_wait_s'] / stats['epoch_s']}


def main(argv=None):
    """Run the comparison."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data', help='dataset folder (default: generated data)')
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--json')
    args = p.parse_args(argv)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if not data:
            data = os.path.join(tmp, 'data')
            fake_dataset(data)
        rows = [measure(c, data, args.steps, device) for c in
                ('config/train_light.yaml', 'config/train_segnet_tutorial.yaml')]
    print(f'{device}, torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'{args.steps} steps each')
    print(f"{'config':<34}{'model':>16}{'batch':>7}{'crop':>10}{'img/s':>8}{'data wait':>11}")
    for r in rows:
        crop = 'x'.join(map(str, r['crop']))
        model = f"{r['architecture']} x{r['width']}"
        print(f"{r['config']:<34}{model:>16}{r['batch']:>7}{crop:>10}"
              f"{r['images_per_s']:>8.1f}{100 * r['data_wait_share']:>10.1f}%")
    save_json(args.json, rows)
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
