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

"""The README's first command, segnet_demo, on the bundled sample bag and model."""

import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.ros


def test_demo_segments_every_frame_and_writes_an_overlay_for_each(tmp_path):
    pytest.importorskip('rclpy')
    from segnet_ros.bags import bagio as io
    from segnet_ros.ros.demo import SAMPLE_BAG

    out = tmp_path / 'demo'
    frames = 12  # more than the 10 in the sample bag: the demo loops over them
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(
        [sys.executable, '-m', 'segnet_ros.ros.demo', '--out', str(out), '--frames', str(frames),
         '--name', f'segnet_demo_t{os.getpid()}'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert f'\n{frames}/{frames} frames segmented; latency ms: mean ' in proc.stdout, text
    assert 'Traceback' not in text and 'timeout' not in proc.stdout, text
    # One line per frame: its index, the latency and the classes in view.
    rows = re.findall(r'^\s*(\d+)\s+(\d+\.\d)\s+\S', proc.stdout, re.M)
    assert [int(i) for i, _ in rows] == list(range(frames)), text
    assert f'overlays in {out}' in proc.stdout, text
    names = sorted(os.listdir(out))
    assert names == [f'overlay_{i:04d}.png' for i in range(frames)], names
    # Each overlay is a colour image of the sample frame's size, and not a blank one.
    sample = next(io.read_messages(os.path.join(ROOT, *SAMPLE_BAG), ['/camera/image_raw']))
    for name in names:
        with Image.open(out / name) as im:
            assert im.mode == 'RGB', name
            assert im.size == (sample.msg.width, sample.msg.height), (name, im.size)
            colours = np.unique(np.asarray(im).reshape(-1, 3), axis=0)
            assert len(colours) > 100, name
