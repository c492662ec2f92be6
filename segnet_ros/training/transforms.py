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
Paired transforms that keep labels exact: labels only ever move by nearest neighbour.

Every random choice draws from a ``torch.Generator`` passed in by the caller, so an epoch's
augmentation is a pure function of (seed, epoch) and a resumed run repeats it exactly.
"""

import torch
import torch.nn.functional as F


class PairTransform:
    """
    Random scale, random crop (padded with ignore), horizontal flip, photometric jitter.

    Input: image uint8 (3, H, W), label int64 (H, W). Output: image float32 normalised,
    label int64. With every option off it only normalises (evaluation).

    ``jitter`` draws brightness, contrast and saturation factors in [1 - j, 1 + j];
    ``brightness`` (lo, hi) replaces its brightness range, and ``gamma`` (lo, hi) applies
    a random gamma curve (above 1 darkens the mid-tones), so that training can see frames
    as dark as dusk.
    """

    def __init__(self, mean, std, ignore_index, scale=(1.0, 1.0), crop=None, flip=False,
                 jitter=0.0, resize=None, resize_label=True, brightness=None,
                 gamma=(1.0, 1.0)):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1) * 255
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1) * 255
        self.ignore_index = ignore_index
        self.scale = tuple(scale)
        self.crop = tuple(crop) if crop else None
        self.flip = flip
        self.jitter = float(jitter)
        self.brightness = tuple(brightness) if brightness else None
        self.gamma = tuple(gamma) if gamma else (1.0, 1.0)
        self.resize = tuple(resize) if resize else None
        # Evaluation resizes only the image: metrics are taken at the label's resolution.
        self.resize_label = resize_label
        self.generator = torch.Generator().manual_seed(0)

    def _rand(self, lo=0.0, hi=1.0):
        return lo + (hi - lo) * float(torch.rand((), generator=self.generator))

    def __call__(self, img, lbl):
        """Return the transformed (image, label)."""
        img = img.float()
        h, w = lbl.shape
        if self.resize:
            h, w = self.resize
        s = self._rand(*self.scale) if self.scale != (1.0, 1.0) else 1.0
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size != tuple(img.shape[-2:]):
            img = F.interpolate(img[None], size=size, mode='bilinear', align_corners=False,
                                antialias=size[0] < img.shape[-2])[0]
        if size != tuple(lbl.shape) and self.resize_label:
            lbl = F.interpolate(lbl[None, None].float(), size=size, mode='nearest')[0, 0].long()
        if self.crop:
            img, lbl = self._random_crop(img, lbl)
        if self.flip and self._rand() < 0.5:
            img, lbl = img.flip(-1), lbl.flip(-1)
        if self.jitter > 0 or self.brightness:
            img = self._photometric(img)
        if self.gamma != (1.0, 1.0):
            img = 255 * (img / 255).clamp_(0, 1) ** self._rand(*self.gamma)
        return (img - self.mean) / self.std, lbl

    def _random_crop(self, img, lbl):
        ch, cw = self.crop
        h, w = lbl.shape
        ph, pw = max(0, ch - h), max(0, cw - w)
        if ph or pw:
            img = F.pad(img, (0, pw, 0, ph), value=0.0)
            lbl = F.pad(lbl, (0, pw, 0, ph), value=self.ignore_index)
            h, w = lbl.shape
        y = int(torch.randint(0, h - ch + 1, (), generator=self.generator))
        x = int(torch.randint(0, w - cw + 1, (), generator=self.generator))
        return img[:, y:y + ch, x:x + cw], lbl[y:y + ch, x:x + cw]

    def _photometric(self, img):
        j = self.jitter
        brightness = self._rand(*(self.brightness or (1 - j, 1 + j)))
        contrast = self._rand(1 - j, 1 + j)
        saturation = self._rand(1 - j, 1 + j)
        img = img * brightness
        mean = img.mean()
        img = (img - mean) * contrast + mean
        gray = img.mean(0, keepdim=True)
        img = (img - gray) * saturation + gray
        return img.clamp_(0, 255)


def collate(batch):
    """Stack same-size pairs into (N, 3, H, W), (N, H, W)."""
    imgs, lbls = zip(*batch)
    return torch.stack(imgs), torch.stack(lbls)
