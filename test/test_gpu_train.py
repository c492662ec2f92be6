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
benchmarks/gpu_train.sh on the CPU: one epoch on a tiny generated dataset, as on the GPU.

So that a lent GPU window never meets a bug the CPU could have caught: the script's
arguments, the fp16 snapshot, the export and a model file the node loads.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open
from test_training import write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(data, classes, out, *sets, limit=600, init=None):
    extra = ' '.join(f'--set {s}' for s in (
        f'classes={classes}', 'width=0.125', 'input_size=[32,48]', 'crop=[32,48]',
        'batch_size=4', 'workers=0', 'epochs=1', 'val_every=1', 'amp=false', *sets))
    env = dict(os.environ, DATA=str(data), OUT=str(out), PYTHON=sys.executable,
               LIMIT=str(limit), EXTRA=extra, **({'INIT': str(init)} if init else {}))
    return subprocess.run(['bash', os.path.join(ROOT, 'benchmarks', 'gpu_train.sh')], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    data = tmp_path_factory.mktemp('data')
    classes = write_dataset(str(data))
    out = tmp_path_factory.mktemp('gpu_train')
    proc = run_script(data, classes, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return data, classes, out, proc.stdout


def test_the_run_writes_an_fp16_model_file_and_the_curve(trained):
    _, _, out, log = trained
    model = out / 'segnet_camvid_cuda.safetensors'
    with safe_open(str(model), framework='pt') as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
    assert dtypes == {'torch.float16', 'torch.int64'}  # weights fp16, BN counters integers
    history = json.loads((out / 'history.json').read_text())
    assert [r['epoch'] for r in history] == [1]
    assert (out / 'curves.png').stat().st_size > 0
    assert not (out / 'run' / 'last.ckpt').exists()  # too large to come back
    assert 'gpu_train.sh done' in log


def test_its_model_loads_and_segments_as_the_node_does(trained):
    from segnet_ros.inference import Segmenter
    _, _, out, _ = trained
    seg = Segmenter(str(out / 'segnet_camvid_cuda.safetensors'), device='cpu', precision='fp32')
    res = seg.segment(np.zeros((32, 48, 3), np.uint8), outputs=('mask', 'overlay'))
    assert res.mask.shape == (32, 48) and res.mask.max() < 3


@pytest.mark.ros
def test_the_node_starts_on_it(trained, start):
    from test_edges import wait_output
    _, _, out, _ = trained
    model = str(out / 'segnet_camvid_cuda.safetensors')
    node = start({'model_path': model, 'device': 'cpu'})
    wait_output(node, 'ready:')
    assert f'ready: model {os.path.realpath(model)}' in node.output()


def test_a_later_window_warm_starts_from_the_returned_file(trained, tmp_path):
    from segnet_ros import modelfile
    data, classes, out, _ = trained
    first = out / 'segnet_camvid_cuda.safetensors'
    proc = run_script(data, classes, tmp_path / 'second', init=first)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = modelfile.read_model_info(str(tmp_path / 'second' / 'segnet_camvid_cuda.safetensors'))
    assert info.training['init'] == os.path.abspath(first), info.training


def test_segnet_eval_scores_the_fp16_file(trained):
    data, _, out, _ = trained
    proc = subprocess.run([sys.executable, '-m', 'segnet_ros.ros.entry', 'segnet_eval',
                           str(out / 'segnet_camvid_cuda.safetensors'), '--data', str(data),
                           '--split', 'val', '--device', 'cpu'], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'mIoU' in proc.stdout or 'miou' in proc.stdout.lower(), proc.stdout


def test_the_bundled_default_follows_the_device(tmp_path, monkeypatch):
    from segnet_ros import paths
    (tmp_path / 'models').mkdir()
    (tmp_path / 'package.xml').write_text('<package/>')
    light = tmp_path / 'models' / paths.DEFAULT_MODEL
    light.write_bytes(b'')
    monkeypatch.setattr(paths, 'share_dir', lambda: str(tmp_path))
    # No CUDA model bundled (today): the light model everywhere.
    assert paths.default_model_path('cuda') == str(light)
    assert paths.default_model_path('cpu') == paths.default_model_path() == str(light)
    cuda = tmp_path / 'models' / paths.CUDA_MODEL
    cuda.write_bytes(b'')
    assert paths.default_model_path('cuda') == str(cuda)
    assert paths.default_model_path('cpu') == str(light)
