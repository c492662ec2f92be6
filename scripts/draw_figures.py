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
Redraw the documentation's pictures into doc/images/ (or --out).

    .venv/bin/python scripts/draw_figures.py

- ``pipeline.png``: camera -> segnet_node (newest-frame slot, worker) -> topics;
- ``sample_overlay.png``: a frame of the bundled sample bag | the bundled model's overlay;
- ``report_timeline.png``: the timeline of ``segnet_bag eval`` on the sample bag;
- ``semantic_cloud.png``: scripts/draw_semantic_cloud.py's synthetic street.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SAMPLE = os.path.join(ROOT, 'data', 'camvid_val_sample')


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def pipeline(path):
    """Draw the node's data flow."""
    plt = _plt()
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.patches import FancyBboxPatch
    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 4.2)
    ax.axis('off')

    def box(x, y, w, h, text, color, size=9, bold=False):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.04', fc=color,
                                    ec='#333333', lw=1.0))
        ax.text(x + w / 2, y + h / 2, text, ha='center', va='center', fontsize=size,
                fontweight='bold' if bold else 'normal', wrap=True)

    def arrow(x0, y0, x1, y1, text='', dy=0.12):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle='-|>', mutation_scale=12,
                                     lw=1.1, color='#333333'))
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + dy, text, ha='center', fontsize=7.5)

    box(0.1, 1.7, 1.5, 0.8, 'camera driver\nsensor_msgs/Image\n(or /compressed)', '#dfe9f5')
    ax.add_patch(FancyBboxPatch((2.1, 0.35), 5.0, 3.5, boxstyle='round,pad=0.05', fc='#f7f7f7',
                                ec='#555555', lw=1.2, ls='--'))
    ax.text(4.6, 3.95, 'segnet_node', ha='center', fontsize=10, fontweight='bold')
    box(2.3, 1.75, 1.35, 0.7, 'subscription\ncallback:\ncheck header', '#fff2cc', 8)
    box(4.0, 1.75, 1.2, 0.7, 'newest-frame\nslot (1)', '#fde0c5', 8, True)
    box(5.55, 1.55, 1.4, 1.1, 'worker thread\nconvert, resize,\nSegNet forward,\noutputs',
        '#e2f0d9', 8)
    box(2.3, 0.55, 2.3, 0.7, '/diagnostics: received = processed\n+ dropped + rejected + ...',
        '#eeeeee', 7.5)
    box(4.9, 0.55, 2.05, 0.7, 'model swap: warmed up,\nput in between frames', '#eeeeee', 7.5)
    arrow(1.6, 2.1, 2.3, 2.1)
    arrow(3.65, 2.1, 4.0, 2.1)
    arrow(5.2, 2.1, 5.55, 2.1)
    ax.text(4.6, 2.6, 'a newer frame replaces the\nwaiting one (counted dropped)', ha='center',
            fontsize=7)
    outs = [('~/class_mask (mono8) + /compressed', '#d9d2e9'),
            ('~/color_mask, ~/overlay (rgb8)', '#d9d2e9'),
            ('~/confidence (32FC1 | mono8)', '#d9d2e9'),
            ('~/label_info, ~/class_info (latched)', '#d9d2e9'),
            ('segnet_cloud_node -> ~/points (with depth)', '#cfe2f3')]
    for i, (text, color) in enumerate(outs):
        y = 3.35 - i * 0.72
        box(7.75, y, 3.1, 0.5, text, color, 8)
        arrow(6.95, 2.1, 7.75, y + 0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sample_overlay(path):
    """Put a sample frame beside the bundled model's overlay of it."""
    plt = _plt()
    from segnet_ros.bags import bagio
    from segnet_ros.inference import Segmenter
    from segnet_ros.paths import default_model_path
    frame = bagio.read_frames(SAMPLE, '/camera/image_raw')[3]
    seg = Segmenter(default_model_path(), device='cpu', precision='fp32')
    res = seg.segment(frame, outputs=('overlay',))
    overlay = res.overlay
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9))
    titles = ('camera frame (CamVid sample bag)', '~/overlay (bundled model)')
    for ax, img, title in zip(axes, (frame, overlay), titles):
        ax.imshow(img)
        ax.set_title(title, fontsize=10)
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_timeline(path):
    """Run segnet_bag eval on the sample bag and keep its timeline picture."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, '-m', 'segnet_ros.bags.tools', 'eval', SAMPLE,
                        '--quiet', '--device', 'cpu', '--out', tmp], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        shutil.copyfile(os.path.join(tmp, 'timeline.png'), path)


def main(argv=None):
    """Draw every picture; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default=os.path.join(ROOT, 'doc', 'images'))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    pipeline(os.path.join(args.out, 'pipeline.png'))
    sample_overlay(os.path.join(args.out, 'sample_overlay.png'))
    report_timeline(os.path.join(args.out, 'report_timeline.png'))
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'draw_semantic_cloud.py'),
                    '--out', os.path.join(args.out, 'semantic_cloud.png')], check=True)
    print(f'wrote pipeline.png, sample_overlay.png, report_timeline.png, semantic_cloud.png '
          f'into {args.out}')
    return 0


if __name__ == '__main__':
    np.seterr(all='ignore')
    sys.exit(main())
