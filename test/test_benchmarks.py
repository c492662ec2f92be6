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

"""Smoke runs of the benchmark scripts with tiny settings, so that they keep working."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, 'models', 'segnet_camvid_light.safetensors')


def run(script, *args, tmp_path):
    out = tmp_path / 'result.json'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', script), *args,
                           '--json', str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(out.read_text())


def test_bench_models(tmp_path):
    from conftest import make_model_file
    # Named like the reference, and given twice from two folders: each is its own row, in
    # the node's precision (only the reference SegNet-Basic runs fp32).
    (tmp_path / 'other').mkdir()
    tiny = make_model_file(tmp_path / 'segnet_basic_tiny.safetensors')
    twin = make_model_file(tmp_path / 'other' / 'segnet_basic_tiny.safetensors', seed=1)
    text, res = run('bench_models.py', '--runs', '1', '--warmup', '1', '--model', tiny,
                    '--model', twin, tmp_path=tmp_path)
    assert 'speed-up' in text and len(res['rows']) == 4
    assert res['rows'][2]['model'] == 'segnet_basic_tiny.safetensors (--model)'
    assert res['rows'][3]['model'] == f'{twin} (--model)'
    assert res['rows'][2]['input_size'] == [48, 64]
    assert res['rows'][1]['precision'] == 'float32'
    bundled = res['rows'][0]['precision']
    assert res['rows'][2]['precision'] == res['rows'][3]['precision'] == bundled
    # The parameters of the file as trained, not of the model as run (BatchNorm folded away).
    from segnet_ros import modelfile
    from segnet_ros.paths import default_model_path
    model, _ = modelfile.load_model_file(default_model_path())
    assert res['rows'][0]['params'] == sum(t.numel() for t in model.parameters())


def test_bench_models_refuses_a_bad_model_file(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'bench_models.py'),
                           '--runs', '1', '--model', str(tmp_path / 'missing.safetensors')],
                          capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith('bench_models: error:') and 'missing.safetensors' in lines[0]


def test_bench_onnx(tmp_path):
    pytest.importorskip('onnxruntime')
    text, rows = run('bench_onnx.py', '--runs', '1', tmp_path=tmp_path)
    assert 'ORT/torch' in text and all(r['max_rel_diff'] < 1e-2 for r in rows)


def test_bench_cpu_ops(tmp_path):
    pytest.importorskip('cv2')
    text, res = run('bench_cpu_ops.py', '--runs', '1', '--sizes', '480x360,640x480',
                    tmp_path=tmp_path)
    assert [r['size'] for r in res['rows']] == [[480, 360], [640, 480]]
    assert all(r['opencv_all_ms'] > 0 and r['torch_all_ms'] > 0 for r in res['rows'])


def test_bench_cpu_settings(tmp_path):
    text, cases = run('bench_cpu_settings.py', '--runs', '1', tmp_path=tmp_path)
    assert any(c['setting'].startswith('bf16') for c in cases)


def test_bench_gpu_reports_missing_cuda(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is present; the full GPU run is not a smoke test')
    text, res = run('bench_gpu.py', tmp_path=tmp_path)
    assert 'no CUDA device present' in text and res['cuda'] is False


def test_bench_train(tmp_path):
    text, rows = run('bench_train.py', '--steps', '1', tmp_path=tmp_path)
    assert len(rows) == 2 and all(r['images_per_s'] > 0 for r in rows)


@pytest.mark.ros
def test_bench_node(tmp_path):
    pytest.importorskip('rclpy')
    text, res = run('bench_node.py', '--frames', '3', '--skip-usual', tmp_path=tmp_path)
    o = res['overhead']
    assert o['end_to_end_ms']['n'] == 3 and 'end-to-end / forward' in text
    # The echo node (no model) answered the same frames, and the floor counts the forward.
    assert o['echo_end_to_end_ms']['n'] == 3 and o['echo_first_output_ms']['p50'] > 0
    assert 1.0 < o['floor_ratio_p50'] <= o['floor_ratio_all_p50'] and 'echo node' in text


@pytest.mark.ros
def test_bench_node_sizes_side_by_side(tmp_path):
    pytest.importorskip('rclpy')
    text, res = run('bench_node.py', '--frames', '2', '--sizes', '480x360,640x480', '--runs',
                    '2', '--param', 'output_resolution=network', tmp_path=tmp_path)
    assert set(res['medians']) == {'480x360', '640x480'} and len(res['sizes']['640x480']) == 2
    assert res['medians']['480x360']['mask/ref'] == 1.0 and 'mask/ref' in text
    assert res['medians']['640x480']['floor mask/fwd'] > 1.0 and 'floor m' in text
    assert res['node_params'] == {'output_resolution': 'network'}


@pytest.mark.ros
def test_bench_hd_input_smoke(tmp_path):
    pytest.importorskip('rclpy')
    text, res = run('bench_hd_input.py', '--frames', '2', '--sizes', '480x360',
                    tmp_path=tmp_path)
    rows = {r['camera']: r for r in res['rows']}
    assert rows['reliable, stock DDS']['answered'] == 2, rows
    assert 'answered' in text


def test_bench_cloud(tmp_path):
    text, res = run('bench_cloud.py', '--runs', '1', tmp_path=tmp_path)
    cases = {(tuple(r['size']), r['case']): r for r in res['rows']}
    assert cases[((640, 480), 'organized, depth at mask size')]['points'] == 640 * 480
    assert cases[((640, 480), 'every 2nd pixel')]['points'] == 320 * 240
    assert 0 < cases[((1280, 720), 'valid points only')]['points'] < 1280 * 720
    assert 'ms/frame' in text


@pytest.mark.ros
def test_bench_startup(tmp_path):
    pytest.importorskip('rclpy')
    text, res = run('bench_startup.py', '--runs', '1', tmp_path=tmp_path)
    row = res['runs'][0]
    assert row['ready_s'] > 0 and row['first_ms'] > 0 and row['next10_median_ms'] > 0
    assert 'first / median' in text
