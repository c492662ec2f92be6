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

"""The torchrun (DistributedDataParallel) path on the CPU with the gloo backend."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from segnet_ros import modelfile


def make_dataset(root):
    rng = np.random.default_rng(0)
    # 5 val images over 2 processes: a padding sampler would score one of them twice.
    for split, n in (('train', 8), ('val', 5)):
        os.makedirs(root / split)
        os.makedirs(root / f'{split}annot')
        for i in range(n):
            lbl = np.zeros((32, 48), np.uint8)
            lbl[:, 24:] = 1
            img = np.where(lbl[..., None] == 0, 60, 190).astype(np.int16)
            img = np.clip(img + rng.integers(-20, 20, (32, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / f'{i}.png')
            Image.fromarray(lbl).save(root / f'{split}annot' / f'{i}.png')
    (root / 'classes.yaml').write_text(
        'ignore_index: 255\nclasses:\n  - {name: left, color: [255, 0, 0]}\n'
        '  - {name: right, color: [0, 255, 0]}\n')


def test_torchrun_two_processes_train_and_checkpoint(tmp_path):
    make_dataset(tmp_path / 'ds')
    out = tmp_path / 'run'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(29500 + os.getpid() % 1000),
           '-m', 'segnet_ros.training.train', '--data', str(tmp_path / 'ds'), '--out', str(out),
           '--set', f"classes={tmp_path / 'ds' / 'classes.yaml'}", '--set', 'width=0.125',
           '--set', 'input_size=[32, 48]', '--set', 'batch_size=2', '--set', 'workers=0',
           '--set', 'epochs=2', '--set', 'optimizer=adamw', '--set', 'lr=0.01',
           '--set', 'progress=false']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '2 process(es)' in proc.stdout
    # Only rank 0 reports and writes.
    assert proc.stdout.count('(selection metric)') == 1
    history = json.loads((out / 'history.json').read_text())
    assert [h['epoch'] for h in history] == [1, 2]
    # Each val image scored exactly once, across both processes.
    assert history[-1]['images'] == 5 and history[-1]['pixels'] == 5 * 32 * 48
    # 8 images over 2 processes at batch 2: each process runs 2 steps an epoch.
    state = modelfile.load_state(str(out / 'last.ckpt'))
    assert state['scheduler']['last_epoch'] == 4
    model, info = modelfile.load_model_file(str(out / 'best.safetensors'))
    assert info.class_names == ['left', 'right']
