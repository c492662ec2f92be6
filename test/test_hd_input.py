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
HD cameras on stock DDS settings reach the node with its defaults (input_reliability: auto).

The camera is a separate process that loads no DDS profile (segnet_ros.ros.camera_probe),
as a camera driver does; the node runs with its defaults over real DDS.
"""

import json
import os
import subprocess
import sys

import pytest
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from segnet_ros.ros.input_qos import follows_publishers
from segnet_ros.ros.input_qos import wanted_reliability

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT


def camera(node, size, encoding='bgr8', reliability='reliable', frames=5):
    """Run a stock-DDS camera process against ``node``; return its JSON report."""
    out = subprocess.run(
        [sys.executable, '-m', 'segnet_ros.ros.camera_probe', '--topic', node.image_topic,
         '--mask', node.topic('class_mask'), '--size', size, '--encoding', encoding,
         '--reliability', reliability, '--frames', str(frames), '--timeout', '10'],
        capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_reader_matches_every_publisher():
    q = [QoSProfile(depth=1, reliability=r) for r in (RELIABLE, BEST_EFFORT)]
    assert wanted_reliability([q[0], q[0]], BEST_EFFORT) == RELIABLE
    assert wanted_reliability([q[0], q[1]], RELIABLE) == BEST_EFFORT  # a reliable reader
    assert wanted_reliability([q[1]], RELIABLE) == BEST_EFFORT        # would miss it
    assert wanted_reliability([], RELIABLE) == RELIABLE  # no publisher: keep what is there
    topic = '/cam/image'
    assert follows_publishers({'input_reliability': 'auto'}, {}, topic)
    assert not follows_publishers({'input_reliability': 'reliable'}, {}, topic)
    # An explicit qos_overrides reliability is the user's choice: it is not followed.
    assert not follows_publishers({'input_reliability': 'auto'},
                                  {f'qos_overrides.{topic}.subscription.reliability': 1},
                                  topic)


@pytest.mark.parametrize('size,encoding', [('1280x720', 'bgr8'), ('1920x1080', 'rgb8'),
                                           ('1920x1080', 'bgr8')])
def test_hd_frames_from_a_stock_dds_camera_are_all_answered_with_defaults(
        start, models, size, encoding):
    node = start({'model_path': models['a'], 'device': 'cpu'})
    report = camera(node, size, encoding)
    assert report['answered'] == report['sent'] == 5, report
    assert 'reading reliable (input_reliability auto)' in node.output()


def test_the_reader_follows_a_best_effort_camera_then_a_reliable_one(driver, start, models):
    node = start({'model_path': models['a'], 'device': 'cpu', 'diagnostics_period': 0.2})
    driver.record_diagnostics()
    # Best-effort promises nothing: a sample right after matching may be lost.
    best_effort = camera(node, '480x360', reliability='best_effort')
    assert best_effort['answered'] >= best_effort['sent'] - 1, best_effort
    assert 'reading reliable' not in node.output()  # no publisher yet: best-effort reads all
    reliable = camera(node, '1920x1080')
    assert reliable['answered'] == reliable['sent'], reliable
    assert 'reading reliable' in node.output()
    # /diagnostics says what the node reads now (the reliable camera has gone: it stays).
    assert driver.wait_for(lambda: (driver.latest_diagnostics(node.name) or {}).get(
        'input_qos') == 'reliable, following the publishers', timeout=10)
    again = camera(node, '480x360', reliability='best_effort')
    assert again['answered'] >= again['sent'] - 1, again
    log = node.output()
    assert log.rindex('reading reliable') < log.rindex('reading best-effort')


def test_a_fixed_best_effort_reader_gets_no_hd_frame_from_a_stock_camera(start, models):
    # Why 'auto' exists: the former default reads nothing of a 1080p frame here.
    node = start({'model_path': models['a'], 'device': 'cpu',
                  'input_reliability': 'best_effort'})
    report = camera(node, '1920x1080', frames=6)
    small = camera(node, '480x360', frames=6)
    # Best effort promises nothing either way: a first small sample right after matching may
    # be lost, and now and then one 1080p frame gets through whole (1 of 12 once in
    # benchmarks/bench_hd_input.py, 1 of 3 in one CI run); all the rest are lost.
    assert report['answered'] <= 1 and small['answered'] >= 5, (report, small)
