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

"""``segnet_bag eval`` on many bags: each and the total, in one process or under torchrun."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from segnet_ros.bags import bagio as io
from segnet_ros.bags import tools
from segnet_ros.inference import Segmenter

T0 = 1_700_000_000 * 1_000_000_000


def write_bag(path, n, seed, labels=None, storage='sqlite3'):
    rng = np.random.default_rng(seed)
    imgs = [rng.integers(0, 256, (32, 40, 3), dtype=np.uint8) for _ in range(n)]
    with io.BagWriter(str(path), storage) as bag:
        for i, img in enumerate(imgs):
            t = T0 + i * 100_000_000
            bag.write('/cam/image_raw', io.IMAGE, io.image_message(img, 'rgb8', t), t)
            if labels is not None:
                bag.write('/cam/labels', io.IMAGE, io.image_message(labels(img), 'mono8', t), t)
    return imgs


@pytest.fixture
def fleet(tmp_path, models):
    """Make a folder of four bags: two labelled, one without labels (mcap), one empty."""
    seg = Segmenter(models['a'], device='cpu')
    d = tmp_path / 'fleet'
    d.mkdir()
    write_bag(d / 'a_run', 3, 1, labels=lambda img: seg.segment(img, ('mask',)).mask)
    write_bag(d / 'b_run', 4, 2, labels=lambda img: (seg.segment(img, ('mask',)).mask + 1) % 4)
    write_bag(d / 'c_run', 2, 3, storage='mcap')
    with io.BagWriter(str(d / 'd_empty')):
        pass
    return d


def test_eval_reports_each_bag_and_the_total(fleet, tmp_path, models, capsys):
    out = tmp_path / 'out'
    code = tools.main(['eval', str(fleet), '--model', models['a'], '--device', 'cpu',
                       '--out', str(out), '--quiet'])
    text = capsys.readouterr()
    assert code == 0, text.err
    assert 'd_empty: the bag is empty' in text.err and '3 of 4 bags evaluated' in text.out
    total = json.loads((out / 'metrics.json').read_text())
    each = [json.loads((out / f'{i:03d}_{n}' / 'metrics.json').read_text())
            for i, n in enumerate(('a_run', 'b_run', 'c_run'))]
    assert total['frames'] == sum(e['frames'] for e in each) == 9
    assert total['frames_scored'] == 7 and [e['frames_scored'] for e in each] == [3, 4, 0]
    confusion = np.sum([e['confusion'] for e in each[:2]], axis=0)
    np.testing.assert_array_equal(total['confusion'], confusion)
    assert total['global_acc'] == pytest.approx(3 / 7)  # a: all right, b: all wrong
    assert [r['frames_segmented'] for r in total['per_bag']] == [3, 4, 2]
    assert total['bag_errors'] == [f"{fleet / 'd_empty'}: the bag is empty"]
    report = (out / 'report.md').read_text()
    assert '[a_run](000_a_run/report.md)' in report and 'd_empty' in report
    for i, n in enumerate(('a_run', 'b_run', 'c_run')):
        assert (out / f'{i:03d}_{n}' / 'report.md').exists()
    # Bags named one by one: the same.
    code = tools.main(['eval', str(fleet / 'a_run'), str(fleet / 'b_run'), '--model',
                       models['a'], '--device', 'cpu', '--out', str(tmp_path / 'o2'),
                       '--quiet'])
    two = json.loads((tmp_path / 'o2' / 'metrics.json').read_text())
    assert code == 0 and two['frames'] == 7 and two['global_acc'] == pytest.approx(3 / 7)


def _eval(cmd, out, env):
    proc = subprocess.run(cmd + ['--out', str(out), '--quiet'], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / 'metrics.json').read_text()), proc


def test_torchrun_two_processes_equal_one(fleet, tmp_path, models):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    args = ['-m', 'segnet_ros.bags.tools', 'eval', str(fleet), '--model', models['a'],
            '--device', 'cpu']
    one, _ = _eval([sys.executable] + args, tmp_path / 'one', env)
    two, proc = _eval([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                       '--master_port', str(29500 + os.getpid() % 1000)] + args,
                      tmp_path / 'two', env)
    assert two['processes'] == 2 and one['processes'] == 1
    assert proc.stdout.count('bags evaluated') == 1  # only rank 0 reports
    # Integer totals exactly; float summaries up to the order of addition.
    for key in ('confusion', 'frames', 'frames_scored', 'frames_read', 'frames_skipped',
                'images_unmatched', 'labels_unmatched', 'bags_evaluated', 'class_share',
                'flip_rate', 'flip_rate_per_class', 'global_acc', 'miou', 'ious'):
        assert two[key] == one[key], key
    for key in ('mean', 'p5', 'p50', 'p95'):
        assert two['confidence'][key] == pytest.approx(one['confidence'][key], abs=1e-6)
    assert two['bf'] == pytest.approx(one['bf'], abs=1e-6)
    assert two['per_bag'] == [dict(r, ms_per_frame=t['ms_per_frame']) for r, t in
                              zip(one['per_bag'], two['per_bag'])]
    # Each process wrote the reports of its own bags.
    for i, n in enumerate(('a_run', 'b_run', 'c_run')):
        assert (tmp_path / 'two' / f'{i:03d}_{n}' / 'report.md').exists()
