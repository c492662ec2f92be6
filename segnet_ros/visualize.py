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

"""Palettes, colourised masks and overlays, on whichever device the tensors live."""

import numpy as np
import torch


def palette_tensor(colors, device='cpu'):
    """Return a (256, 3) uint8 lookup table; indices without a colour map to black."""
    lut = torch.zeros((256, 3), dtype=torch.uint8)
    lut[:len(colors)] = torch.tensor(colors, dtype=torch.uint8)
    return lut.to(device)


def colorize(mask, lut):
    """Map an (H, W) uint8/int mask to (H, W, 3) uint8 colours with a palette table."""
    return lut[mask.long()]


def overlay(rgb, color, alpha):
    """Alpha-blend ``color`` over ``rgb`` (both (H, W, 3) uint8): (1 - a) * rgb + a * color."""
    if alpha <= 0:
        return rgb.clone()
    if alpha >= 1:
        return color.clone()
    out = rgb.float() * (1.0 - alpha) + color.float() * alpha
    return out.add_(0.5).to(torch.uint8)


def colorize_numpy(mask, colors):
    """Numpy convenience for reports: (H, W) class mask -> (H, W, 3) uint8."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(colors)] = np.asarray(colors, np.uint8)
    return lut[np.asarray(mask, np.uint8)]


def overlay_numpy(rgb, mask, colors, alpha=0.5):
    """Numpy convenience for reports: blend the class colours of ``mask`` over ``rgb``."""
    out = rgb.astype(np.float32) * (1 - alpha) + colorize_numpy(mask, colors) * alpha
    return (out + 0.5).astype(np.uint8)


def heat_numpy(values, top):
    """Numpy convenience for reports: (H, W) floats in [0, top] -> dark-to-bright RGB heat map."""
    v = np.clip(np.nan_to_num(np.asarray(values, np.float32) / max(float(top), 1e-12)), 0, 1)
    # black -> red -> yellow -> white, readable in print and without a colour map library
    rgb = np.stack([np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)],
                   axis=-1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def import_opencv():
    """Return the cv2 module (opencv-python-headless / python3-opencv), or None without it."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2
