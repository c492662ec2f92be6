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

"""Build a SegNet variant by name."""

from .segnet import IMAGENET_MEAN
from .segnet import IMAGENET_STD
from .segnet import SegNet
from .segnet import SegNetBasic

ARCHITECTURES = {
    'segnet': (SegNet, False),
    'segnet_basic': (SegNetBasic, False),
    'bayesian_segnet': (SegNet, True),
    'bayesian_segnet_basic': (SegNetBasic, True),
}


def build_model(name, num_classes, width=1.0, in_channels=3, dropout=0.0, lrn='raw',
                mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """
    Return an untrained model; unknown names fail with the list of valid ones.

    ``dropout`` is training-only dropout at the end of the deeper layers (non-Bayesian
    models); ``lrn`` ('raw' or 'normalised'), ``mean`` and ``std`` set where SegNet-Basic's
    input LRN acts (see ``SegNetBasic``) and are ignored by the other architectures.
    """
    try:
        cls, bayesian = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture '{name}'; valid names: "
                         f"{', '.join(sorted(ARCHITECTURES))}") from None
    if not (isinstance(num_classes, int) and 1 <= num_classes <= 255):
        raise ValueError(f'num_classes must be an integer in 1..255, got {num_classes!r}')
    if not (0.0 < float(width) <= 4.0):
        raise ValueError(f'width must be in (0, 4], got {width!r}')
    kw = {'lrn': lrn, 'mean': mean, 'std': std} if cls is SegNetBasic else {}
    return cls(num_classes, width=float(width), bayesian=bayesian, in_channels=in_channels,
               train_dropout=float(dropout), **kw)
