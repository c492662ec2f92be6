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
A semantic point cloud from a registered depth image and a class mask (no ROS here).

Depth (``16UC1`` in millimetres or ``32FC1`` in metres, as RGB-D drivers publish it,
registered to the colour camera) is sampled at every mask pixel, nearest neighbour, through
the two cameras' intrinsics, and back-projected with the mask's pinhole model (x right, y
down, z forward: the camera's optical frame). The cloud is organized like the mask
(height x width, NaN where there is no valid depth), as costmap layers that pair mask and
cloud pixel by pixel expect, or only the valid points. Its fields are those of PCL's
PointXYZRGBL plus a confidence: ``x y z`` float32 metres, ``rgb`` the class colour packed in
a float32 (0x00RRGGBB, as RViz and PCL read it), ``label`` uint32, ``confidence`` float32.
"""

import collections
import math

import numpy as np

# (name, numpy type, offset): the PointCloud2 layout, 24 bytes a point.
FIELDS = (('x', np.float32, 0), ('y', np.float32, 4), ('z', np.float32, 8),
          ('rgb', np.float32, 12), ('label', np.uint32, 16), ('confidence', np.float32, 20))
POINT = np.dtype({'names': [f[0] for f in FIELDS], 'formats': [f[1] for f in FIELDS],
                  'offsets': [f[2] for f in FIELDS], 'itemsize': 24})
DEPTH_ENCODINGS = {'16UC1': 0.001, 'mono16': 0.001, '32FC1': 1.0}  # -> metres per unit


class CloudError(ValueError):
    """A depth image or camera_info the cloud cannot be built from; ``reason`` says why."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


Intrinsics = collections.namedtuple('Intrinsics', 'fx fy cx cy width height')


def intrinsics(info, what='camera_info'):
    """Return the pinhole Intrinsics of a CameraInfo(-like) message; CloudError if unusable."""
    k = [float(v) for v in info.k]
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
        raise CloudError(f'{what}: focal length fx={fx}, fy={fy} (needs finite values > 0)',
                         'camera_info')
    if info.width <= 0 or info.height <= 0:
        raise CloudError(f'{what}: size {info.width}x{info.height}', 'camera_info')
    return Intrinsics(fx, fy, cx, cy, int(info.width), int(info.height))


def scaled(k, width, height):
    """Return ``k`` for the same camera at another resolution (as image_proc's resize)."""
    sx, sy = width / k.width, height / k.height
    return Intrinsics(k.fx * sx, k.fy * sy, k.cx * sx, k.cy * sy, width, height)


def depth_in_metres(arr, encoding, min_depth=0.0, max_depth=0.0):
    """
    Return a float32 depth map in metres, NaN where there is no valid depth.

    0 (the drivers' "no return"), NaN, inf, negative values and values outside
    [min_depth, max_depth] (``max_depth`` 0: no upper limit) become NaN.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise CloudError(f'depth encoding {encoding!r} is not supported (use 16UC1 in mm or '
                         f'32FC1 in m)', 'encoding')
    z = arr.astype(np.float32) * np.float32(DEPTH_ENCODINGS[encoding])
    with np.errstate(invalid='ignore'):
        bad = ~np.isfinite(z) | (z <= 0) | (z < min_depth)
        if max_depth > 0:
            bad |= z > max_depth
    z[bad] = np.nan
    return z


def sample_depth(z, depth_k, mask_k):
    """
    Return depth ``z`` sampled at every pixel of the mask's camera, nearest neighbour.

    The depth image is registered to the colour camera, so a mask pixel's ray meets the
    depth image where the depth camera's intrinsics put it; outside it, NaN.
    """
    if depth_k == mask_k:
        return z
    u = np.arange(mask_k.width, dtype=np.float64)
    v = np.arange(mask_k.height, dtype=np.float64)
    ud = np.rint((u - mask_k.cx) * (depth_k.fx / mask_k.fx) + depth_k.cx).astype(np.int64)
    vd = np.rint((v - mask_k.cy) * (depth_k.fy / mask_k.fy) + depth_k.cy).astype(np.int64)
    okx = (ud >= 0) & (ud < z.shape[1])
    oky = (vd >= 0) & (vd < z.shape[0])
    out = z[np.clip(vd, 0, z.shape[0] - 1)[:, None], np.clip(ud, 0, z.shape[1] - 1)[None, :]]
    out[~(oky[:, None] & okx[None, :])] = np.nan
    return out


def pack_rgb(colors):
    """Return (N, 3) uint8 colours as float32 holding 0x00RRGGBB (PCL's ``rgb`` field)."""
    c = np.asarray(colors, np.uint32)
    return ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).view(np.float32)


def make_cloud(mask, z, k, palette, confidence=None, stride=1, valid_only=False):
    """
    Return the points of ``mask`` (H, W uint8) with depth ``z`` (H, W metres, NaN: none).

    ``k``: the mask's Intrinsics; ``palette``: (classes, 3) uint8 colours; ``confidence``:
    (H, W) float in 0..1 or None (NaN then). ``stride`` keeps every n-th pixel in both
    directions; ``valid_only`` returns only points with depth (a 1-D array) instead of the
    organized (H', W') grid.
    """
    if mask.shape != z.shape:
        raise CloudError(f'depth {z.shape[1]}x{z.shape[0]} is not at the mask size '
                         f'{mask.shape[1]}x{mask.shape[0]}', 'size')
    rows = np.arange(0, mask.shape[0], stride)
    cols = np.arange(0, mask.shape[1], stride)
    m = mask[::stride, ::stride]
    zz = z[::stride, ::stride]
    pts = np.empty(m.shape, POINT)
    pts['z'] = zz
    pts['x'] = (cols[None, :] - np.float32(k.cx)) * zz / np.float32(k.fx)
    pts['y'] = (rows[:, None] - np.float32(k.cy)) * zz / np.float32(k.fy)
    table = pack_rgb(palette)
    pts['rgb'] = table[np.minimum(m, len(table) - 1)]
    pts['label'] = m
    pts['confidence'] = np.nan if confidence is None else confidence[::stride, ::stride]
    invalid = np.isnan(zz)
    if valid_only:
        return pts[~invalid]
    for name in ('x', 'y'):
        pts[name][invalid] = np.nan
    return pts


def confidence_in_unit(arr, encoding):
    """Return a confidence image (32FC1 in 0..1 or mono8 in 0..255) as float32 in 0..1."""
    if encoding == 'mono8':
        return arr.astype(np.float32) / np.float32(255.0)
    if encoding == '32FC1':
        return arr.astype(np.float32, copy=False)
    raise CloudError(f'confidence encoding {encoding!r} is not supported (32FC1 or mono8)',
                     'encoding')


class StampJoiner:
    """
    Join messages of several streams by header stamp, with the first stream as the anchor.

    ``slop`` 0: exact stamps; else the nearest message within ``slop`` seconds in each other
    stream. Each stream keeps its last ``keep`` messages. An anchor message that can no
    longer be joined (every other stream has moved past it, or it fell out of its queue) is
    returned by ``add`` as unmatched, once.
    """

    def __init__(self, streams, slop=0.0, keep=10):
        self.streams, self.slop_ns, self.keep = tuple(streams), int(slop * 1e9), keep
        self.queues = {s: collections.OrderedDict() for s in self.streams}

    def add(self, stream, stamp_ns, msg):
        """Queue ``msg``; return (joined: [{stream: msg}, ...], unmatched anchor stamps)."""
        q = self.queues[stream]
        q[stamp_ns] = msg
        unmatched = []
        while len(q) > self.keep:
            old, _ = q.popitem(last=False)
            if stream == self.streams[0]:
                unmatched.append(old)
        joined = []
        anchor = self.queues[self.streams[0]]
        for t in list(anchor):
            match = {self.streams[0]: anchor[t]}
            for s in self.streams[1:]:
                found = self._find(s, t)
                if found is None:
                    break
                match[s] = self.queues[s][found]
            else:
                joined.append((t, match))
                used = [(s, self._find(s, t)) for s in self.streams[1:]]
                for s, tt in [(self.streams[0], t)] + used:
                    self.queues[s].pop(tt, None)
                continue
            if self._passed(t):
                del anchor[t]
                unmatched.append(t)
        # Older anchors than a joined one can no longer be joined either.
        if joined:
            newest = max(t for t, _ in joined)
            for t in [t for t in anchor if t < newest]:
                del anchor[t]
                unmatched.append(t)
        return [m for _, m in sorted(joined, key=lambda j: j[0])], unmatched

    def _find(self, stream, t):
        q = self.queues[stream]
        if not self.slop_ns:
            return t if t in q else None
        best = min(q, key=lambda s: abs(s - t), default=None)
        return best if best is not None and abs(best - t) <= self.slop_ns else None

    def _passed(self, t):
        """Whether every other stream has a message newer than ``t`` + slop (none will come)."""
        return all(q and next(reversed(q)) > t + self.slop_ns
                   for s, q in self.queues.items() if s != self.streams[0])

    def nearest_offset_ms(self, stream, t):
        """Return how far the nearest ``stream`` message is from ``t``, in ms (or None)."""
        q = self.queues[stream]
        best = min(q, key=lambda s: abs(s - t), default=None)
        return None if best is None else (best - t) / 1e6
