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
Draw the semantic point cloud of a synthetic street, seen from the camera and from above.

    .venv/bin/python scripts/draw_semantic_cloud.py --out doc/images/semantic_cloud.png

A pinhole camera 1.5 m above the ground looks along a street: road and pavement on the
ground plane, a building front, a pole, a car and a pedestrian as boxes. Depth and classes
are ray-cast per pixel; segnet_ros.cloud turns them into the cloud segnet_cloud_node
publishes, drawn top down (x right, z forward) in the bundled model's class colours.
"""

import argparse
import collections
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from segnet_ros import cloud  # noqa: E402
from segnet_ros import modelfile  # noqa: E402
from segnet_ros.paths import default_model_path  # noqa: E402

Info = collections.namedtuple('Info', 'k width height')
# (class, x0, x1, y0, y1, z0, z1) boxes in the camera frame (x right, y down, z forward), m.
BOXES = [('Building', -12.0, -6.0, -12.0, 1.5, 8.0, 40.0),
         ('Building', 7.0, 14.0, -12.0, 1.5, 10.0, 40.0),
         ('Pole', -4.2, -4.0, -4.0, 1.5, 9.0, 9.2),
         ('Car', 1.0, 2.8, 0.0, 1.5, 11.0, 15.5),
         ('Pedestrian', -3.4, -2.9, -0.3, 1.5, 7.0, 7.4),
         ('Tree', 4.5, 6.5, -5.0, 1.5, 20.0, 22.0)]
CAMERA_HEIGHT = 1.5


def scene(w=320, h=240):
    """Return (mask, depth in m, intrinsics, class names, palette) of the synthetic street."""
    info = modelfile.read_model_info(default_model_path())
    names = list(info.class_names)
    f = 0.9 * w
    k = cloud.intrinsics(Info([f, 0, (w - 1) / 2, 0, f, (h - 1) / 2, 0, 0, 1], w, h))
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    ray = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u, float)], -1)
    depth = np.full((h, w), np.inf)
    mask = np.full((h, w), names.index('Sky'), np.uint8)
    with np.errstate(divide='ignore', invalid='ignore'):
        t = CAMERA_HEIGHT / ray[..., 1]  # the ground plane, y = camera height
        hit = (ray[..., 1] > 0) & (t < 60)
        x = ray[..., 0] * t
        depth[hit] = t[hit]
        ground = np.where(np.abs(x) < 3.5, names.index('Road'), names.index('Pavement'))
        mask[hit] = ground[hit]
        for name, x0, x1, y0, y1, z0, z1 in BOXES:
            # Slab test: where the ray (z = t) enters the box.
            lo = np.maximum.reduce([np.minimum(x0 / ray[..., 0], x1 / ray[..., 0]),
                                    np.minimum(y0 / ray[..., 1], y1 / ray[..., 1]),
                                    np.full((h, w), z0)])
            hi = np.minimum.reduce([np.maximum(x0 / ray[..., 0], x1 / ray[..., 0]),
                                    np.maximum(y0 / ray[..., 1], y1 / ray[..., 1]),
                                    np.full((h, w), z1)])
            front = (lo <= hi) & (lo > 0) & (lo < depth)
            depth[front] = lo[front]
            mask[front] = names.index(name)
    depth[~np.isfinite(depth)] = 0  # no return, as a depth camera reports it
    z = cloud.depth_in_metres((depth * 1000).astype(np.uint16), '16UC1', max_depth=40.0)
    return mask, z, k, names, np.array(info.class_colors, np.uint8)


def main(argv=None):
    """Write the figure; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default=os.path.join(ROOT, 'doc', 'images', 'semantic_cloud.png'))
    args = p.parse_args(argv)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    mask, z, k, names, palette = scene()
    pts = cloud.make_cloud(mask, z, k, palette, valid_only=True)
    rgb = pts['rgb'].view(np.uint32)
    colours = np.stack([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255], -1) / 255.0
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6),
                                      gridspec_kw={'width_ratios': [1.15, 1]})
    left.imshow(palette[mask])
    left.set_title('class mask (camera view)')
    left.axis('off')
    ground = np.isin(pts['label'], [names.index('Road'), names.index('Pavement')])
    for sel, size in ((ground, 0.8), (~ground, 5.0)):  # objects drawn over the ground
        right.scatter(pts['x'][sel], pts['z'][sel], c=colours[sel], s=size, linewidths=0)
    right.set_xlim(-14, 14)
    right.set_ylim(0, 40)
    right.set_aspect('equal')
    right.set_xlabel('x (m, right)')
    right.set_ylabel('z (m, forward)')
    right.set_title('~/points from above: x y z + class colour')
    seen = sorted(set(pts['label'].tolist()))
    right.legend(handles=[plt.Line2D([], [], marker='s', ls='', color=palette[i] / 255.0,
                                     label=names[i]) for i in seen],
                 loc='upper right', fontsize=7, framealpha=0.9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f'wrote {args.out} ({len(pts)} points)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
