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
``segnet_train``: train SegNet on a CamVid-layout dataset.

Single process: ``segnet_train --config config/train_light.yaml --data DIR --out RUN``.
Several GPUs or nodes: the same command under ``torchrun --nproc_per_node N``.
Leave-one-sequence-out folds: ``--holdout 0001TP`` trains on the other sequences and scores
on that one; ``--folds all`` runs every such fold and reports them side by side.
"""

import argparse
import dataclasses
import functools
import json
import os
import sys

import numpy as np
import torch
import yaml

from . import engine
from . import plots
from .datasets import DatasetError
from .datasets import find_pairs
from .datasets import fold_pairs
from .datasets import load_classes
from .datasets import median_frequency_weights
from .datasets import SegmentationDataset
from .datasets import sequence_of
from .transforms import collate
from .transforms import PairTransform
from .. import modelfile
from ..metrics import format_table
from ..nets import build_model
from ..nets import he_init

# Every key a config may set, with its default (the paper's SegNet recipe).
DEFAULTS = {
    'architecture': 'segnet', 'width': 1.0,
    'classes': 'config/camvid.yaml', 'train_split': 'train', 'val_split': 'val',
    'train_val': False, 'holdout': [],
    'cache': True,
    'input_size': [360, 480],
    'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225],
    'epochs': 100, 'batch_size': 4, 'workers': 2,
    'optimizer': 'sgd', 'lr': 1e-3, 'momentum': 0.9, 'weight_decay': 5e-4,
    'decay_exempt': 'bias_and_bn_shift', 'weight_init': 'msra', 'dropout': 0.0, 'lrn': 'raw',
    'select_on': 'miou', 'recompute_bn': False,
    'scheduler': 'constant', 'warmup_epochs': 0,
    'class_weighting': 'median_frequency', 'loss_norm': 'valid_pixels',
    'scale': [1.0, 1.0], 'crop': None, 'flip': False, 'jitter': 0.0,
    'brightness': None, 'gamma': [1.0, 1.0],
    'amp': True, 'cpu_bf16': False, 'channels_last': False, 'seed': 0, 'val_every': 1,
    'boundary_f1': True, 'progress': True,
    # Each epoch, also write the weights as an fp16 model file (snapshot_fp16.safetensors):
    # a run cut short by a time limit still leaves a model the node loads (GPU windows).
    'snapshot_fp16': False,
}
CHOICES = {'optimizer': ('sgd', 'adamw'), 'scheduler': ('constant', 'poly', 'cosine'),
           'class_weighting': ('median_frequency', 'median_frequency_sqrt', 'none'),
           'loss_norm': ('valid_pixels', 'weights'),
           'decay_exempt': ('bias_and_bn_shift', 'all_1d', 'none'),
           'weight_init': ('msra', 'pytorch'), 'lrn': ('raw', 'normalised'),
           'select_on': ('miou', 'global_acc', 'class_acc')}


SCORES = ('global_acc', 'class_acc', 'miou', 'bf')


class ConfigError(ValueError):
    """A config file or override that cannot be used."""


def load_config(path=None, overrides=(), base=None):
    """
    Return DEFAULTS updated by ``base``, the YAML file at ``path`` and ``key=value`` overrides.

    ``base`` is a config saved in a checkpoint (a resumed run continues with its own).
    """
    cfg = dict(DEFAULTS)
    cfg.update(base or {})
    if path:
        try:
            with open(path) as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f'{path}: cannot read config ({e})') from None
        if not isinstance(doc, dict):
            raise ConfigError(f'{path}: a config is a mapping of key: value')
        cfg.update(doc)
    for item in overrides:
        key, sep, value = item.partition('=')
        if not sep:
            raise ConfigError(f'--set expects key=value, got {item!r}')
        cfg[key] = yaml.safe_load(value)
    unknown = sorted(set(cfg) - set(DEFAULTS) - {'data', 'init', 'ignore_index'})
    if unknown:
        raise ConfigError(f"unknown config keys {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(DEFAULTS))}")
    for key, valid in CHOICES.items():
        if cfg[key] not in valid:
            raise ConfigError(f"{key} must be one of {', '.join(valid)}, got {cfg[key]!r}")
    for key in ('epochs', 'batch_size'):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ConfigError(f'{key} must be a positive integer, got {cfg[key]!r}')
    if isinstance(cfg['holdout'], str):
        cfg['holdout'] = [s for s in cfg['holdout'].split(',') if s]
    if not isinstance(cfg['holdout'], list) or \
            not all(isinstance(s, str) and s for s in cfg['holdout']):
        raise ConfigError(f"holdout must be a list of sequence names, got {cfg['holdout']!r}")
    return cfg


def split_pairs(cfg, data_root):
    """
    Return (train pairs, evaluation pairs, name of the evaluation set) for ``cfg``.

    Without ``holdout`` training uses the train split (plus val with ``train_val``) and
    evaluation the val split. With ``holdout: [SEQ, ...]`` the listed sequences leave
    training and all their frames, in train and val, are the evaluation set: a fold that
    scores streets the model has never seen.
    """
    train_splits = [cfg['train_split']] + ([cfg['val_split']] if cfg['train_val'] else [])
    if cfg['holdout']:
        train, held = fold_pairs(data_root, train_splits, [cfg['train_split'], cfg['val_split']],
                                 cfg['holdout'])
        return train, held, 'holdout ' + '+'.join(cfg['holdout'])
    train = [p for s in train_splits for p in find_pairs(data_root, s)]
    return train, find_pairs(data_root, cfg['val_split']), cfg['val_split']


def setup_distributed():
    """Join the torchrun process group if launched by torchrun; return (rank, world, device)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    if torch.cuda.is_available():
        device = torch.device('cuda', local)
        torch.cuda.set_device(device)
    else:
        device = torch.device('cpu')
    if world > 1:
        torch.distributed.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
        return torch.distributed.get_rank(), world, device
    return 0, 1, device


def make_schedule(cfg, optimizer, steps_per_epoch):
    """Per-iteration LR multiplier: linear warm-up then constant, poly(0.9) or cosine."""
    total = cfg['epochs'] * steps_per_epoch
    warm = int(cfg['warmup_epochs'] * steps_per_epoch)
    kind = cfg['scheduler']

    def factor(it):
        if it < warm:
            return (it + 1) / warm
        t = min(1.0, (it - warm) / max(1, total - warm))
        if kind == 'poly':
            return (1 - t) ** 0.9
        if kind == 'cosine':
            return 0.5 * (1 + np.cos(np.pi * t))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def param_groups(net, cfg):
    """
    Return optimiser parameter groups with and without weight decay.

    ``decay_exempt``: ``bias_and_bn_shift`` exempts conv biases and BatchNorm shifts (Caffe's
    ``decay_mult: 0`` in the SegNet prototxts; BatchNorm scales still decay), ``all_1d``
    every bias and BatchNorm parameter, ``none`` nothing.
    """
    mode = cfg['decay_exempt']
    decay, no_decay = [], []
    for m in net.modules():
        for name, p in m.named_parameters(recurse=False):
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                exempt = mode == 'all_1d' or (mode == 'bias_and_bn_shift' and name == 'bias')
            else:
                exempt = mode != 'none' and p.ndim <= 1
            (no_decay if exempt else decay).append(p)
    return [{'params': decay, 'weight_decay': cfg['weight_decay']},
            {'params': no_decay, 'weight_decay': 0.0}]


def make_model(cfg, num_classes):
    """Build the configured network (untrained; He-initialised with ``weight_init: msra``)."""
    model = build_model(cfg['architecture'], num_classes, cfg['width'], dropout=cfg['dropout'],
                        lrn=cfg['lrn'], mean=cfg['mean'], std=cfg['std'])
    return he_init(model) if cfg['weight_init'] == 'msra' else model


class ShardSampler(torch.utils.data.Sampler):
    """
    Every ``world``-th index from ``rank``: each item in exactly one process, none padded.

    ``DistributedSampler`` pads the last round with repeats so that every process gets as
    many items, which would score some validation images twice.
    """

    def __init__(self, n, rank, world):
        self.indices = list(range(rank, n, world))

    def __iter__(self):
        """Yield this process's indices in order."""
        return iter(self.indices)

    def __len__(self):
        """Return how many indices this process gets."""
        return len(self.indices)


def build_loaders(cfg, data_root, classes, rank, world):
    """Return the train dataset, train loader, val loader and the evaluation set's name."""
    ign = classes['ignore_index']
    k = classes['num_classes']
    train_tf = PairTransform(cfg['mean'], cfg['std'], ign, scale=cfg['scale'], crop=cfg['crop'],
                             flip=cfg['flip'], jitter=cfg['jitter'], resize=cfg['input_size'],
                             brightness=cfg['brightness'], gamma=cfg['gamma'])
    val_tf = PairTransform(cfg['mean'], cfg['std'], ign, resize=cfg['input_size'],
                           resize_label=False)
    train_pairs, val_pairs, val_name = split_pairs(cfg, data_root)
    train = SegmentationDataset(data_root, cfg['train_split'], k, ign, train_tf, cfg['cache'],
                                pairs=train_pairs)
    val = SegmentationDataset(data_root, cfg['val_split'], k, ign, val_tf, cfg['cache'],
                              pairs=val_pairs)
    # Every file is checked now, so that a bad one stops the run before its first epoch.
    train.check()
    val.check()
    sampler = torch.utils.data.distributed.DistributedSampler(
        train, world, rank, shuffle=True, seed=cfg['seed'], drop_last=True) \
        if world > 1 else None
    val_sampler = ShardSampler(len(val), rank, world) if world > 1 else None

    def reseed(worker_id):
        # Each worker gets its own stream derived from the loader's (seed, epoch) generator.
        info = torch.utils.data.get_worker_info()
        info.dataset.transform.generator.manual_seed(info.seed % (2 ** 63))

    loader = torch.utils.data.DataLoader(
        train, batch_size=cfg['batch_size'], shuffle=sampler is None, sampler=sampler,
        num_workers=cfg['workers'], collate_fn=collate, drop_last=True,
        pin_memory=torch.cuda.is_available(), worker_init_fn=reseed,
        generator=torch.Generator(), persistent_workers=False)
    val_loader = torch.utils.data.DataLoader(
        val, batch_size=max(1, cfg['batch_size'] // 2), sampler=val_sampler,
        num_workers=cfg['workers'], collate_fn=collate)
    return train, loader, val_loader, val_name


def bn_loader(cfg, train_set):
    """Return a loader of the training images without augmentation (BatchNorm statistics)."""
    tf = PairTransform(cfg['mean'], cfg['std'], cfg['ignore_index'], resize=cfg['input_size'])
    ds = SegmentationDataset(None, None, train_set.num_classes, train_set.ignore_index, tf,
                             cache=False, pairs=train_set.pairs)
    ds._cache = train_set._cache  # share the decoded images when the training set caches
    return torch.utils.data.DataLoader(ds, batch_size=cfg['batch_size'], collate_fn=collate,
                                       num_workers=0)


def train(cfg, data_root, out_dir, resume=None, stop_after=None, init=None):
    """Train according to ``cfg``; write checkpoints, the best model file and figures."""
    rank, world, device = setup_distributed()
    classes = load_classes(cfg['classes'])
    cfg = dict(cfg, ignore_index=classes['ignore_index'], data=os.path.abspath(data_root))
    torch.manual_seed(cfg['seed'])
    train_set, loader, val_loader, val_name = build_loaders(cfg, data_root, classes, rank,
                                                            world)
    k = classes['num_classes']
    if cfg['class_weighting'].startswith('median_frequency'):
        w = median_frequency_weights((train_set.load(i)[1] for i in range(len(train_set))), k)
        if cfg['class_weighting'] == 'median_frequency_sqrt':
            # Softer balancing: rare classes still count more, with fewer false positives.
            w = np.sqrt(w)
    else:
        w = np.ones(k)
    weight = torch.tensor(w, dtype=torch.float32, device=device)
    model = make_model(cfg, k).to(device)
    if init:
        # Start from the weights of a model file (a second training cycle, fine-tuning).
        start, start_info = modelfile.load_model_file(init)
        # Dropout holds no weights: a Bayesian model can start from its plain counterpart.
        if (_plain(start_info.architecture), float(start_info.width), start_info.num_classes) \
                != (_plain(cfg['architecture']), float(cfg['width']), k):
            raise ConfigError(f'{init} is a {start_info.architecture} x{start_info.width} '
                              f'with {start_info.num_classes} classes; the config trains a '
                              f"{cfg['architecture']} x{cfg['width']} with {k}")
        model.load_state_dict(start.state_dict())
        cfg['init'] = os.path.abspath(init)
    if cfg['channels_last']:  # the CPU and CUDA (with fp16 autocast: tensor cores) alike
        model = model.to(memory_format=torch.channels_last)
    if world > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) \
            if device.type == 'cuda' else model
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == 'cuda' else None)
    net = model.module if world > 1 else model
    groups = param_groups(net, cfg)
    if cfg['optimizer'] == 'sgd':
        optimizer = torch.optim.SGD(groups, lr=cfg['lr'], momentum=cfg['momentum'])
    else:
        optimizer = torch.optim.AdamW(groups, lr=cfg['lr'])
    scheduler = make_schedule(cfg, optimizer, len(loader))
    scaler = torch.amp.GradScaler('cuda', enabled=cfg['amp'] and device.type == 'cuda')
    start_epoch, best, history = 0, -1.0, []
    ckpt_path = os.path.join(out_dir, 'last.ckpt')
    if resume:
        state = modelfile.load_state(resume)
        try:
            net.load_state_dict(state['model'])
        except RuntimeError:
            saved = state.get('config') or {}
            raise ConfigError(
                f"{resume} holds a {saved.get('architecture')} x{saved.get('width')}, the "
                f"config trains a {cfg['architecture']} x{cfg['width']}: resume without "
                '--config (the run goes on with the config saved in its checkpoint)') from None
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        scaler.load_state_dict(state['scaler'])
        start_epoch, best, history = state['epoch'], state['best'], state['history']
        _log(f"resumed from {resume} at epoch {start_epoch}, best {cfg['select_on']} "
             f'{best:.4f}')
    os.makedirs(out_dir, exist_ok=True)
    if rank == 0:
        with open(os.path.join(out_dir, 'config.yaml'), 'w') as f:
            yaml.safe_dump(cfg, f, sort_keys=True)
        _log(f"training {cfg['architecture']} x{cfg['width']} "
             f'({sum(p.numel() for p in net.parameters()):,} parameters) on {device}, '
             f'{world} process(es), {len(train_set)} images '
             f'({_by_sequence(train_set.pairs)}), scored on {val_name} '
             f'({len(val_loader.dataset)} images), class weights '
             f'{[round(float(v), 4) for v in w]}')
    info = modelfile.default_info(
        cfg['architecture'], k, width=float(cfg['width']),
        class_names=classes['class_names'], class_colors=classes['class_colors'],
        ignore_index=classes['ignore_index'], input_size=list(cfg['input_size']),
        mean=list(cfg['mean']), std=list(cfg['std']))
    info.training = {key: cfg[key] for key in ('optimizer', 'lr', 'epochs', 'batch_size', 'crop',
                                               'scale', 'class_weighting', 'input_size',
                                               'train_val')}
    if cfg.get('init'):
        info.training['init'] = cfg['init']  # a warm start: the file it went on from
    bn_batches = bn_loader(cfg, train_set) if cfg['recompute_bn'] else None
    for epoch in range(start_epoch, cfg['epochs']):
        # The epoch alone fixes shuffling and augmentation, so a resumed run repeats them.
        epoch_seed = cfg['seed'] * 100003 + epoch
        loader.generator.manual_seed(epoch_seed)
        train_set.transform.generator.manual_seed(epoch_seed)
        if loader.sampler is not None and hasattr(loader.sampler, 'set_epoch'):
            loader.sampler.set_epoch(epoch)
        stats = engine.train_one_epoch(model, loader, optimizer, scheduler, scaler, device,
                                       epoch, cfg, weight)
        row = {'epoch': epoch + 1, **stats}
        last = epoch + 1 == cfg['epochs']
        if (epoch + 1) % cfg['val_every'] == 0 or last:
            if bn_batches is not None:
                # As the paper: statistics of the training set (every process takes the
                # whole set, so that all hold the same), not the running averages.
                engine.recompute_bn(net, bn_batches, device)
                info.bn_statistics = f'recomputed on the {len(train_set)} training images'
            res, mat = engine.evaluate(net, val_loader, k, classes['ignore_index'], device,
                                       cfg['amp'], cfg['boundary_f1'])
            row.update({key: res[key] for key in ('global_acc', 'class_acc', 'miou', 'bf',
                                                  'pixels', 'images')})
            row['ious'] = res['ious']
            if rank == 0:
                _log(f"epoch {epoch + 1}: loss {stats['loss']:.4f}, "
                     f"{stats['images_per_s']:.1f} img/s, data wait {stats['data_wait_s']:.1f}"
                     f" s\n{format_table(res, classes['class_names'])}")
                metrics = {'split': val_name, 'epoch': epoch + 1,
                           'selected_on': cfg['select_on'],
                           **{key: round(res[key], 4) for key in
                              ('global_acc', 'class_acc', 'miou', 'bf')},
                           'ious': [round(v, 4) for v in res['ious']]}
                if res[cfg['select_on']] > best:
                    best = res[cfg['select_on']]
                    info.metrics = metrics
                    modelfile.save_model_file(os.path.join(out_dir, 'best.safetensors'),
                                              net, info)
                    plots.plot_confusion(mat, classes['class_names'],
                                         os.path.join(out_dir, 'confusion.png'))
                if last:
                    # A fold's model: chosen by nothing scored on its held-out sequence.
                    modelfile.save_model_file(os.path.join(out_dir, 'last.safetensors'), net,
                                              dataclasses.replace(info, metrics=metrics))
        elif rank == 0:
            _log(f"epoch {epoch + 1}: loss {stats['loss']:.4f}, "
                 f"{stats['images_per_s']:.1f} img/s")
        history.append(row)
        if rank == 0 and cfg['snapshot_fp16']:
            modelfile.save_model_file(os.path.join(out_dir, 'snapshot_fp16.safetensors'), net,
                                      dataclasses.replace(info, metrics={
                                          'epoch': row['epoch'], 'snapshot': True,
                                          **{k: round(row[k], 4) for k in SCORES if k in row}}),
                                      dtype=torch.float16)
        if rank == 0:
            modelfile.save_state(ckpt_path, {
                'model': net.state_dict(), 'optimizer': optimizer.state_dict(),
                'scheduler': scheduler.state_dict(), 'scaler': scaler.state_dict(),
                'epoch': epoch + 1, 'best': best, 'history': history, 'config': cfg},
                midway=functools.partial(engine.pause_for_test, f'checkpoint{epoch + 1}')
                if engine.TEST_PAUSE_ENV in os.environ else None)
            plots.plot_curves(history, os.path.join(out_dir, 'curves.png'))
            with open(os.path.join(out_dir, 'history.json'), 'w') as f:
                json.dump(history, f, indent=1)
        if stop_after is not None and epoch + 1 - start_epoch >= stop_after:
            break
    if world > 1:
        torch.distributed.destroy_process_group()
    return best, history


def _plain(architecture):
    return architecture.removeprefix('bayesian_')


def _by_sequence(pairs):
    counts = {}
    for img, _ in pairs:
        counts[sequence_of(img)] = counts.get(sequence_of(img), 0) + 1
    return ', '.join(f'{s} {n}' for s, n in sorted(counts.items()))


def sequences(cfg, data_root):
    """Return the sorted sequence names of the train and val splits (the possible folds)."""
    names = set()
    for split in (cfg['train_split'], cfg['val_split']):
        names.update(sequence_of(img) for img, _ in find_pairs(data_root, split))
    return sorted(names)


FOLD_KEYS = ('global_acc', 'class_acc', 'miou', 'bf')


def run_folds(cfg, data_root, out_dir, folds, stop_after=None, init=None):
    """
    Train one model per held-out sequence into ``out_dir/holdout_<SEQ>``; return the table.

    Each fold reports its last epoch's scores on the held-out sequence (no model selection
    on the sequence it is scored on) and, apart, the best epoch's. The rows are written to
    ``out_dir/folds.json``.
    """
    if folds == ['all']:
        folds = sequences(cfg, data_root)
    rows = []
    for seq in folds:
        fold_cfg = dict(cfg, holdout=[seq])
        fold_dir = os.path.join(out_dir, f'holdout_{seq}')
        train_pairs, held, _ = split_pairs(fold_cfg, data_root)
        _log(f'fold: hold out {seq} ({len(held)} images), train on {len(train_pairs)}')
        best, history = train(fold_cfg, data_root, fold_dir, stop_after=stop_after, init=init)
        scored = [h for h in history if 'miou' in h]
        last = scored[-1] if scored else {}
        rows.append({'holdout': seq, 'train_images': len(train_pairs),
                     'eval_images': len(held), 'epochs': len(history),
                     **{k: last.get(k) for k in FOLD_KEYS},
                     'select_on': cfg['select_on'], 'best': best,
                     'best_epoch': max(scored, key=lambda h: h[cfg['select_on']])['epoch']
                     if scored else None})
    if engine.is_main_process():
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, 'folds.json'), 'w') as f:
            json.dump(rows, f, indent=1)
        _log(format_folds(rows))
    return rows


def format_folds(rows):
    """Return the per-fold table (percentages; scores of each fold's last epoch)."""
    lines = [f"{'held out':<10} {'train':>5} {'eval':>5} {'epochs':>6} {'G':>6} {'C':>6} "
             f"{'mIoU':>6} {'BF':>6}  best (epoch)"]
    for r in rows:
        vals = ' '.join(f'{100 * r[k]:6.1f}' if r[k] is not None else f"{'-':>6}"
                        for k in FOLD_KEYS)
        lines.append(f"{r['holdout']:<10} {r['train_images']:>5} {r['eval_images']:>5} "
                     f"{r['epochs']:>6} {vals}  {r['select_on']} {100 * r['best']:.1f} "
                     f"({r['best_epoch']})")
    if len(rows) > 1:
        mean = ' '.join(f'{100 * np.mean([r[k] for r in rows]):6.1f}' for k in FOLD_KEYS)
        lines.append(f"{'mean':<10} {'':>5} {'':>5} {'':>6} {mean}")
    return '\n'.join(lines)


def _log(msg):
    if engine.is_main_process():
        print(msg, flush=True)


def get_args_parser():
    """Return the command-line parser."""
    p = argparse.ArgumentParser(
        prog='segnet_train', description='Train SegNet on a CamVid-layout dataset folder.')
    p.add_argument('--config', help='YAML training config (see config/train_*.yaml)')
    p.add_argument('--data', required=True, help='dataset folder (CamVid layout)')
    p.add_argument('--out', required=True, help='run folder for checkpoints and figures')
    p.add_argument('--resume', help='continue from a last.ckpt written by an earlier run, with '
                   'the config saved in it unless --config is given')
    p.add_argument('--init', help='start from the weights of a .safetensors model file')
    p.add_argument('--epochs', type=int, help='override the number of epochs')
    p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                   help='override any config key (YAML value), repeatable')
    p.add_argument('--holdout', action='append', default=[], metavar='SEQ',
                   help='hold this video sequence out of training and score on all its '
                   'frames (CamVid: 0001TP, 0006R0, 0016E5), repeatable')
    p.add_argument('--folds', metavar='SEQ,SEQ|all',
                   help='run one leave-one-sequence-out fold per listed sequence (all: every '
                   'sequence of train and val) into OUT/holdout_SEQ; writes OUT/folds.json')
    p.add_argument('--threads', type=int,
                   help='torch intra-op threads (default: torch chooses)')
    p.add_argument('--stop-after', type=int, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    """Entry point; returns the process exit code."""
    args = get_args_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        overrides = list(args.set) + ([f'epochs={args.epochs}'] if args.epochs else [])
        saved = None
        if args.resume:
            if not os.path.isfile(args.resume):
                raise ConfigError(f'{args.resume}: no such checkpoint to resume from')
            saved = modelfile.load_state(args.resume, tensors=False).get('config')
        # Resumed without --config, the run goes on with the config it was started with
        # (its --set, --holdout and --init included); --epochs and --set still apply.
        cfg = load_config(args.config, overrides, base=None if args.config else saved)
        if args.holdout:
            # Not through YAML: a sequence name such as 0123 would become a number.
            cfg['holdout'] = [s for item in args.holdout for s in item.split(',') if s]
        if args.folds:
            if args.resume or args.holdout:
                raise ConfigError('--folds runs whole folds: leave out --resume and --holdout '
                                  '(resume a fold with --holdout SEQ --out OUT/holdout_SEQ)')
            run_folds(cfg, args.data, args.out, args.folds.split(','), args.stop_after,
                      args.init)
            return 0
        best, _ = train(cfg, args.data, args.out, args.resume, args.stop_after, args.init)
    except (ConfigError, DatasetError, modelfile.ModelFileError) as e:
        print(f'segnet_train: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('segnet_train: interrupted; resume with --resume '
              f"{os.path.join(args.out, 'last.ckpt')}", file=sys.stderr)
        return 130
    if int(os.environ.get('RANK', '0')) == 0:
        best_file = os.path.join(args.out, 'best.safetensors')
        print(f"best {cfg['select_on']} {100 * best:.2f} (selection metric); model file "
              f'{best_file}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
