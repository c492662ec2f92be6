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
The CPU output path (uint8 resize, OpenCV per-pixel work) against the torch path, in-process.

The whole ``Segmenter.segment()`` call with all four outputs, and with the class mask only,
on the sample frames scaled to each camera size; the two paths run alternately on the same
frames with the same model and precision. The torch path is what CUDA runs, and what the CPU
ran before OpenCV did the per-pixel work.

    .venv/bin/python benchmarks/bench_cpu_ops.py --runs 10 --precision fp32
"""

import argparse
import sys
import time

import numpy as np
from PIL import Image as PILImage
from segnet_ros.bags.bagio import read_frames
from segnet_ros.camera import parse_frame_size
from segnet_ros.inference import PRECISIONS
from segnet_ros.inference import Segmenter
from segnet_ros.paths import default_model_path
from segnet_ros.paths import share_path
from segnet_ros.stats import save_json

ALL = ('mask', 'color', 'overlay', 'confidence')


def main(argv=None):
    """Time both paths at every size; print the table."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', type=lambda t: [parse_frame_size(v) for v in t.split(',')],
                   default=[(480, 360), (1280, 720), (1920, 1080)], metavar='WxH,...')
    p.add_argument('--runs', type=int, default=10)
    p.add_argument('--precision', default='auto', choices=PRECISIONS)
    p.add_argument('--json')
    args = p.parse_args(argv)
    fast = Segmenter(default_model_path(), device='cpu', precision=args.precision)
    if fast._cv2 is None:
        print('bench_cpu_ops: error: OpenCV is not installed', file=sys.stderr)
        return 2
    slow = Segmenter(default_model_path(), device='cpu', precision=args.precision)
    slow._cv2 = None
    frames = read_frames(share_path('data', 'camvid_val_sample'), '/camera/image_raw')
    rows = []
    print(f'bundled model, CPU, {fast.dtype_name}, {args.runs} runs per cell, whole segment() '
          'call, p50 ms')
    print(f"{'frame':<11}{'all four: OpenCV':>18}{'torch':>8}{'mask: OpenCV':>14}{'torch':>8}")
    for w, h in args.sizes:
        imgs = [np.asarray(PILImage.fromarray(f).resize((w, h), PILImage.BILINEAR))
                for f in frames]
        times = {(k, o): [] for k in ('opencv', 'torch') for o in ('all', 'mask')}
        for seg in (fast, slow):
            seg.segment(imgs[0], ALL)
        for i in range(args.runs):
            img = imgs[i % len(imgs)]
            for key, seg in (('opencv', fast), ('torch', slow)):
                for out, outputs in (('all', ALL), ('mask', ('mask',))):
                    t = time.perf_counter()
                    seg.segment(img, outputs)
                    times[(key, out)].append((time.perf_counter() - t) * 1000)
        med = {f'{k}_{o}_ms': float(np.median(v)) for (k, o), v in times.items()}
        rows.append({'size': [w, h], **med})
        print(f"{f'{w}x{h}':<11}{med['opencv_all_ms']:>18.1f}{med['torch_all_ms']:>8.1f}"
              f"{med['opencv_mask_ms']:>14.1f}{med['torch_mask_ms']:>8.1f}")
    save_json(args.json, {'precision': fast.dtype_name, 'runs': args.runs, 'rows': rows})
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
