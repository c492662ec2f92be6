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

"""Training and evaluation loops shared by the single-process and torchrun paths."""

import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..metrics import SegmentationMetrics


# Test-only hook. With SEGNET_TRAIN_TEST_PAUSE=<point> in the environment the run stops at
# that point (one line on stderr, then it sleeps until killed), so that a test can SIGKILL
# it there deterministically (test_training.py's kill-and-resume test). Points:
# 'epoch<E>.batch<B>' after the B-th optimizer step of epoch E (mid-epoch), and
# 'checkpoint<E>' inside the write of epoch E's checkpoint, with half of the temporary file
# on disk and before the rename (modelfile.save_state's ``midway``). Never set it otherwise.
TEST_PAUSE_ENV = 'SEGNET_TRAIN_TEST_PAUSE'


def pause_for_test(point):
    """Stop here for good if the test-only SEGNET_TRAIN_TEST_PAUSE names ``point``."""
    if os.environ.get(TEST_PAUSE_ENV) != point:
        return
    print(f'segnet_train: test pause at {point}', file=sys.stderr, flush=True)
    while True:
        time.sleep(60)


def is_main_process():
    """Return True on rank 0 or when not distributed."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) \
        or torch.distributed.get_rank() == 0


def segmentation_loss(logits, target, weight, ignore_index, norm='valid_pixels'):
    """
    Weighted cross-entropy.

    ``norm='valid_pixels'`` divides by the count of non-ignored pixels, as Caffe's
    SoftmaxWithLoss does in the paper; ``'weights'`` is PyTorch's weighted mean.
    """
    if norm == 'weights':
        return F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index)
    total = F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index,
                            reduction='sum')
    return total / (target != ignore_index).sum().clamp_min(1)


def train_one_epoch(model, loader, optimizer, scheduler, scaler, device, epoch, cfg, weight):
    """Run one epoch; return mean loss, images/s and the seconds spent waiting for data."""
    model.train()
    use_amp = scaler is not None and scaler.is_enabled()
    # bf16 autocast on CPUs with native bf16 (AVX512-BF16 / AMX) halves the step time; the
    # weights and the loss stay fp32.
    cpu_bf16 = device.type == 'cpu' and cfg.get('cpu_bf16', False)
    channels_last = cfg.get('channels_last', False)
    total_loss, seen, data_wait = 0.0, 0, 0.0
    start = last = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg['epochs']}", unit='batch',
               disable=None if is_main_process() and cfg.get('progress', True) else True,
               file=sys.stderr, dynamic_ncols=True, leave=False)
    for step, (img, lbl) in enumerate(bar, 1):
        data_wait += time.perf_counter() - last
        img = img.to(device, non_blocking=True)
        lbl = lbl.to(device, non_blocking=True)
        if channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16 if cpu_bf16 else torch.float16,
                            enabled=use_amp or cpu_bf16):
            logits = model(img)
        loss = segmentation_loss(logits.float(), lbl, weight, cfg['ignore_index'],
                                 cfg['loss_norm'])
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f'loss became {loss.item()} at epoch {epoch + 1}; '
                                     'lower the learning rate')
        optimizer.zero_grad(set_to_none=True)
        if use_amp:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        pause_for_test(f'epoch{epoch + 1}.batch{step}')
        total_loss += loss.item() * img.shape[0]
        seen += img.shape[0]
        rate = seen / (time.perf_counter() - start)
        bar.set_postfix(loss=f'{loss.item():.4f}', img_s=f'{rate:.1f}',
                        lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        last = time.perf_counter()
    bar.close()
    elapsed = time.perf_counter() - start
    return {'loss': total_loss / max(seen, 1), 'images_per_s': seen / elapsed,
            'data_wait_s': data_wait, 'epoch_s': elapsed}


@torch.no_grad()
def recompute_bn(model, loader, device):
    """
    Replace BatchNorm running statistics by their average over the batches of ``loader``.

    The paper does this before evaluation: statistics gathered during training lag the
    weights and see augmented crops. Dropout stays off while the statistics are taken.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every batch
    model.eval()
    for m in bns:
        m.train()
    for img, _ in loader:
        model(img.to(device))
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.eval()


@torch.no_grad()
def evaluate(model, loader, num_classes, ignore_index, device, amp=False, boundary=True):
    """Score ``model`` on ``loader``; return (metrics dict, confusion matrix tensor)."""
    model.eval()
    metrics = SegmentationMetrics(num_classes, ignore_index, device, boundary=boundary)
    for img, lbl in tqdm(loader, desc='validate', unit='batch', leave=False, file=sys.stderr,
                         disable=None if is_main_process() else True):
        img = img.to(device, non_blocking=True)
        lbl = lbl.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16,
                            enabled=amp and device.type == 'cuda'):
            logits = model(img)
        if logits.shape[-2:] != lbl.shape[-2:]:
            # The net may run below the label resolution; score at the label's.
            logits = F.interpolate(logits.float(), size=lbl.shape[-2:], mode='bilinear',
                                   align_corners=False)
        metrics.update(lbl, logits.argmax(1))
    metrics.reduce_from_all_processes()
    return metrics.compute(), metrics.cm.mat.cpu()
