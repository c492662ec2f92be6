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
The semantic point cloud's cost per frame, as segnet_cloud_node computes it.

    .venv/bin/python benchmarks/bench_cloud.py --runs 30 --json out/bench_cloud.json

Per size (640x480, 1280x720): 16UC1 depth to metres, sampling at the mask's pixels (with a
depth image of the same size, and of half the size through the two intrinsics), the
back-projection with labels, colours and confidence, and the bytes of the PointCloud2; the
organized cloud, only valid points, and every 2nd pixel. Median of ``--runs``, one thread as
the node's executor runs it.
"""

import argparse
import collections
import statistics
import sys
import time

import numpy as np
from segnet_ros import cloud
from segnet_ros.stats import save_json

Info = collections.namedtuple('Info', 'k width height')


def _k(w, h):
    return cloud.intrinsics(Info([0.8 * w, 0, w / 2 - 0.5, 0, 0.8 * w, h / 2 - 0.5, 0, 0, 1],
                                 w, h))


def one(w, h, depth_scale, runs, **options):
    """Return the median ms of one frame's cloud, and the points it kept."""
    rng = np.random.default_rng(0)
    dw, dh = int(w * depth_scale), int(h * depth_scale)
    depth = rng.integers(300, 8000, (dh, dw)).astype(np.uint16)
    depth[rng.random((dh, dw)) < 0.1] = 0  # holes, as a real depth camera has
    mask = rng.integers(0, 11, (h, w)).astype(np.uint8)
    conf = rng.random((h, w)).astype(np.float32)
    palette = rng.integers(0, 256, (11, 3)).astype(np.uint8)
    mask_k, depth_k = _k(w, h), _k(dw, dh)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        z = cloud.sample_depth(cloud.depth_in_metres(depth, '16UC1'), depth_k, mask_k)
        pts = cloud.make_cloud(mask, z, mask_k, palette, conf, **options)
        pts.tobytes()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), pts.size


def main(argv=None):
    """Print the table; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=30)
    p.add_argument('--json')
    args = p.parse_args(argv)
    cases = [('organized, depth at mask size', 1.0, {}),
             ('organized, depth at half size', 0.5, {}),
             ('valid points only', 1.0, {'valid_only': True}),
             ('every 2nd pixel', 1.0, {'stride': 2})]
    rows = []
    print(f"{'mask size':<11}{'case':<32}{'ms/frame':>10}{'points':>10}")
    for w, h in ((640, 480), (1280, 720)):
        for label, scale, options in cases:
            ms, n = one(w, h, scale, args.runs, **options)
            rows.append({'size': [w, h], 'case': label, 'ms': ms, 'points': n})
            print(f'{w}x{h:<7}{label:<32}{ms:>10.2f}{n:>10}')
    save_json(args.json, {'rows': rows, 'runs': args.runs})
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
