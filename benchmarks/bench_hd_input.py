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
What reaches segnet_node from a camera process, by frame size and camera QoS.

The node runs with its defaults (bundled model, ``input_reliability: auto``, our Fast DDS
profile in its own process). Each camera is a separate process
(``segnet_ros.ros.camera_probe``) sending bgr8 frames one at a time: on stock DDS settings
(no profile, as a camera driver runs), or with our profile / Fast DDS's ``LARGE_DATA``
builtin transports loaded on the camera side too. Prints answered/sent and the class mask
latency (publish -> received) per row.

    .venv/bin/python benchmarks/bench_hd_input.py --frames 12 --json out/bench_hd_input.json
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from segnet_ros.dds import BUNDLED_PROFILE
from segnet_ros.dds import confine_to_localhost
from segnet_ros.dds import fastdds_major
from segnet_ros.dds import PROFILE_VARIABLES
from segnet_ros.dds import read_variables
from segnet_ros.dds import use_large_image_transport
from segnet_ros.paths import share_path
from segnet_ros.stats import save_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
confine_to_localhost()
SIZES = ('480x360', '1280x720', '1920x1080')
# label -> (camera reliability, what the camera process loads)
CAMERAS = {
    'reliable, stock DDS': ('reliable', 'stock'),
    'best-effort, stock DDS': ('best_effort', 'stock'),
    'best-effort, LARGE_DATA on the camera': ('best_effort', 'large_data'),
    'best-effort, our profile on the camera': ('best_effort', 'profile'),
}


def run_camera(node, size, reliability, setting, frames):
    """Run one camera process; return its report (or an error dict)."""
    args = [sys.executable, '-m', 'segnet_ros.ros.camera_probe', '--topic', node.image_topic,
            '--mask', node.topic('class_mask'), '--size', size, '--reliability', reliability,
            '--frames', str(frames), '--timeout', '3']
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    if setting == 'large_data':
        env['FASTDDS_BUILTIN_TRANSPORTS'] = 'LARGE_DATA'
        args.append('--keep-profile')
    elif setting == 'profile':
        env[read_variables(fastdds_major())[0]] = share_path(*BUNDLED_PROFILE)
        args.append('--keep-profile')
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    if out.returncode != 0:
        return {'error': out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    """Run every camera setting at every size against one node; print the table."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--frames', type=int, default=12)
    p.add_argument('--sizes', default=','.join(SIZES), help='comma-separated WxH list')
    p.add_argument('--json')
    args = p.parse_args(argv)
    use_large_image_transport()  # the node's process loads it, as segnet_node does
    from segnet_ros.ros.peer import NodeProcess
    node = NodeProcess({}, name='bench_hd', quiet=True)
    rows = []
    try:
        for size in args.sizes.split(','):
            for label, (reliability, setting) in CAMERAS.items():
                r = run_camera(node, size, reliability, setting, args.frames)
                rows.append({'size': size, 'camera': label, **r})
    finally:
        node.stop()
    print(f'bgr8 frames one at a time to segnet_node with its defaults (input_reliability '
          f'auto), {args.frames} per row; class mask latency publish -> received')
    print(f"{'frame':<11}{'camera publisher':<42}{'answered':>10}{'p50 ms':>9}{'max ms':>9}")
    for r in rows:
        if 'error' in r:
            print(f"{r['size']:<11}{r['camera']:<42}  error: {r['error']}")
            continue
        lat = r['latency_ms']
        p50 = f'{np.median(lat):.0f}' if lat else '-'
        mx = f'{max(lat):.0f}' if lat else '-'
        print(f"{r['size']:<11}{r['camera']:<42}{r['answered']:>6}/{r['sent']:<3}{p50:>9}"
              f'{mx:>9}')
    save_json(args.json, {'rows': rows})
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
