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
Time epochs of the paper's SegNet on CamVid train with segnet_train's own code, on the GPU.

``segnet_ros.training.train.train`` runs as ``segnet_train --config
config/train_segnet_tutorial.yaml`` would (full SegNet, 360x480, batch 4, SGD, median
frequency balancing, fp16 autocast on CUDA, 4 loader workers), stopped after
``--epochs`` epochs (no validation falls in them: the config validates every 10th); the
first epoch includes cuDNN's and the allocator's warm-up. Then, for comparison, a plain
loop of forward + backward + SGD step on one real batch already on the device, in the
precisions and memory formats the training code does not offer on CUDA (channels_last is
a CPU-only option there, bf16 autocast too).

    python3 benchmarks/gpu_train_epoch.py --tar .gpudata/camvid_train.tar --json out/train.json

The dataset is a CamVid-layout folder (``--data``) or the tar gpu_carry.py writes
(``--tar``, unpacked into a temporary folder; JPEG images are read as they are).
"""

import argparse
import os
import sys
import tarfile
import tempfile
import time

from segnet_ros.nets import build_model
from segnet_ros.stats import save_json
from segnet_ros.training import engine
from segnet_ros.training.datasets import load_classes
from segnet_ros.training.train import build_loaders
from segnet_ros.training.train import load_config
from segnet_ros.training.train import train
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (label, autocast dtype or None, channels_last, cudnn.benchmark)
PLAIN_VARIANTS = (
    ('fp16 autocast, NCHW (as segnet_train)', torch.float16, False, False),
    ('fp16 autocast, channels_last', torch.float16, True, False),
    ('fp16 autocast, channels_last, cudnn.benchmark', torch.float16, True, True),
    ('bf16 autocast, channels_last', torch.bfloat16, True, False),
    ('fp32, NCHW (no autocast)', None, False, False),
)


def unpack(tar_path, dest):
    """Extract the dataset tar into ``dest``; return ``dest``."""
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter='data')
    return dest


def segnet_train_epochs(cfg, data, epochs):
    """Run ``epochs`` epochs through segnet_train's ``train``; return its history rows."""
    with tempfile.TemporaryDirectory() as out:
        _, history = train(cfg, data, out, stop_after=epochs)
    return [{k: r[k] for k in ('epoch', 'loss', 'images_per_s', 'epoch_s', 'data_wait_s')}
            for r in history]


def plain_loop(cfg, data, device, steps, warmup=5):
    """Images/s of forward + backward + SGD step on one batch resident on ``device``."""
    classes = load_classes(cfg['classes'])
    cfg = dict(cfg, ignore_index=classes['ignore_index'], workers=0)
    _, loader, _, _ = build_loaders(cfg, data, classes, 0, 1)
    img, lbl = next(iter(loader))
    img, lbl = img.to(device), lbl.to(device)
    k = classes['num_classes']
    weight = torch.ones(k, device=device)
    rows = []
    variants = PLAIN_VARIANTS if device.type == 'cuda' else PLAIN_VARIANTS[-1:]
    for label, dtype, channels_last, bench in variants:
        if device.type == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        torch.backends.cudnn.benchmark = bench
        torch.manual_seed(0)
        model = build_model(cfg['architecture'], k, cfg['width']).to(device).train()
        x = img
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            x = img.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=cfg['lr'], momentum=cfg['momentum'],
                              weight_decay=cfg['weight_decay'])
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

        def step():
            with torch.autocast(device.type, dtype=dtype or torch.float16,
                                enabled=dtype is not None):
                logits = model(x)
            loss = engine.segmentation_loss(logits.float(), lbl, weight, cfg['ignore_index'])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        for _ in range(warmup):
            step()
        _sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        dt = time.perf_counter() - t
        peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == 'cuda' else None
        rows.append({'variant': label, 'images_per_s': steps * img.shape[0] / dt,
                     'step_ms': 1000 * dt / steps, 'peak_mb': peak})
        model = opt = None
    torch.backends.cudnn.benchmark = False
    return rows


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def main(argv=None):
    """Run the epochs and the comparison; print a table and write JSON."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--data', help='CamVid-layout folder (train/, trainannot/)')
    src.add_argument('--tar', help='the tar written by benchmarks/gpu_carry.py')
    p.add_argument('--config',
                   default=os.path.join(ROOT, 'config', 'train_segnet_tutorial.yaml'))
    p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                   help='config override, as segnet_train --set (tiny CPU smoke runs)')
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--limit', type=int, help='use only the first N images (smoke runs)')
    p.add_argument('--plain-steps', type=int, default=30)
    p.add_argument('--json')
    p.add_argument('--md', help='write the tables as Markdown here')
    args = p.parse_args(argv)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data = unpack(args.tar, os.path.join(tmp, 'camvid')) if args.tar else args.data
        if args.limit:
            data = _limited(data, args.limit, os.path.join(tmp, 'limited'))
        unpack_s = time.perf_counter() - t0
        # The training split doubles as the validation split, which these epochs never run.
        cfg = load_config(args.config, ['val_split=train', 'progress=false', *args.set])
        if not os.path.isabs(cfg['classes']):
            cfg['classes'] = os.path.join(ROOT, cfg['classes'])
        t0 = time.perf_counter()
        epochs = segnet_train_epochs(cfg, data, args.epochs)
        run_s = time.perf_counter() - t0
        plain = plain_loop(cfg, data, device, args.plain_steps) if args.plain_steps else []
    name = torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'
    n_images = round(epochs[0]['images_per_s'] * epochs[0]['epoch_s']) if epochs else 0
    print(f"{name}, torch {torch.__version__}: segnet_train {cfg['architecture']} "
          f"x{cfg['width']}, {cfg['input_size'][0]}x{cfg['input_size'][1]}, batch "
          f"{cfg['batch_size']}, amp {cfg['amp'] and device.type == 'cuda'}, "
          f"{cfg['workers']} workers, {n_images} images an epoch")
    print(f"{'epoch':>6}{'seconds':>9}{'img/s':>8}{'data wait s':>13}{'loss':>8}")
    for r in epochs:
        print(f"{r['epoch']:>6}{r['epoch_s']:>9.2f}{r['images_per_s']:>8.1f}"
              f"{r['data_wait_s']:>13.2f}{r['loss']:>8.3f}")
    print(f'unpack {unpack_s:.1f} s; segnet_train set-up + epochs + checkpoints {run_s:.1f} s')
    if plain:
        print(f'plain loop, one batch on the device, forward + backward + SGD, '
              f'{args.plain_steps} steps:')
        print(f"{'variant':<48}{'img/s':>8}{'step ms':>9}{'peak MiB':>10}")
        for r in plain:
            peak = f"{r['peak_mb']:>10.0f}" if r['peak_mb'] is not None else f"{'-':>10}"
            print(f"{r['variant']:<48}{r['images_per_s']:>8.1f}{r['step_ms']:>9.1f}{peak}")
    result = {'device': name, 'torch': torch.__version__,
              'config': os.path.relpath(args.config, ROOT), 'overrides': args.set,
              'architecture': cfg['architecture'], 'width': cfg['width'],
              'input_size': cfg['input_size'], 'batch_size': cfg['batch_size'],
              'amp': bool(cfg['amp'] and device.type == 'cuda'), 'workers': cfg['workers'],
              'images_per_epoch': n_images, 'epochs': epochs, 'unpack_s': unpack_s,
              'run_s': run_s, 'plain_steps': args.plain_steps, 'plain_loop': plain}
    save_json(args.json, result)
    if args.md:
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md, 'w') as f:
            f.write(markdown(result))
    return 0


def markdown(r):
    """Return the result as Markdown tables."""
    size = 'x'.join(map(str, r['input_size']))
    config = ' '.join([r['config'], *r['overrides']])
    lines = [f"### Training: {r['device']}", '',
             f"segnet_train ({config}): {r['architecture']} x{r['width']}, {size}, batch "
             f"{r['batch_size']}, fp16 autocast {'on' if r['amp'] else 'off'}, "
             f"{r['workers']} loader workers, "
             f"{r['images_per_epoch']} images an epoch, torch {r['torch']}.", '',
             '| epoch | seconds | images/s | data wait s | loss |',
             '| ---: | ---: | ---: | ---: | ---: |']
    lines += [f"| {e['epoch']} | {e['epoch_s']:.2f} | {e['images_per_s']:.1f} | "
              f"{e['data_wait_s']:.2f} | {e['loss']:.3f} |" for e in r['epochs']]
    if r['plain_loop']:
        lines += ['', 'Plain loop, one batch on the device, forward + backward + SGD step, '
                  f"{r['plain_steps']} steps:", '',
                  '| variant | images/s | step ms | peak MiB |', '| --- | ---: | ---: | ---: |']
        for p in r['plain_loop']:
            peak = f"{p['peak_mb']:.0f}" if p['peak_mb'] is not None else '-'
            lines.append(f"| {p['variant']} | {p['images_per_s']:.1f} | {p['step_ms']:.1f} "
                         f'| {peak} |')
    return '\n'.join(lines) + '\n'


def _limited(data, n, dest):
    """Link the first ``n`` train pairs of ``data`` into a new CamVid-layout folder."""
    for split in ('train', 'trainannot'):
        os.makedirs(os.path.join(dest, split))
    for name in sorted(os.listdir(os.path.join(data, 'train')))[:n]:
        stem = os.path.splitext(name)[0]
        os.symlink(os.path.join(data, 'train', name), os.path.join(dest, 'train', name))
        os.symlink(os.path.join(data, 'trainannot', stem + '.png'),
                   os.path.join(dest, 'trainannot', stem + '.png'))
    return dest


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
