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

"""Camera frame sizes, and calibration that follows an image when it is resized (no ROS)."""

import argparse
import copy


def parse_frame_size(text):
    """Parse 'WxH' (an argparse ``type``); return (width, height), each 16..8192."""
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WxH, e.g. 1920x1080") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f'{text}: width and height must be 16..8192')
    return w, h


def scale_camera_info(info, header, width, height):
    """Return a copy of ``info`` stamped with ``header`` and scaled to width x height."""
    out = copy.deepcopy(info)
    out.header = header
    if info.width and info.height and (info.width, info.height) != (width, height):
        sx, sy = width / info.width, height / info.height
        k = list(info.k)
        k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
        out.k = k
        p = list(info.p)
        p[0], p[2], p[3], p[5], p[6] = p[0] * sx, p[2] * sx, p[3] * sx, p[5] * sy, p[6] * sy
        out.p = p
        out.roi.x_offset = int(info.roi.x_offset * sx)
        out.roi.y_offset = int(info.roi.y_offset * sy)
        out.roi.width = int(info.roi.width * sx)
        out.roi.height = int(info.roi.height * sy)
    out.width, out.height = width, height
    return out
