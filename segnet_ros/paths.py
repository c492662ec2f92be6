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

"""Where the bundled model, configs and sample data live, installed or in a source tree."""

import os

PACKAGE = 'segnet_ros'
DEFAULT_MODEL = 'segnet_camvid_light.safetensors'
# The CUDA SegNet (benchmarks/gpu_train.sh trains it), the default on CUDA once bundled.
CUDA_MODEL = 'segnet_camvid_cuda.safetensors'
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def share_dir():
    """Return the package's data folder: the source tree when run from one, else the share."""
    if os.path.isfile(os.path.join(_SOURCE_ROOT, 'package.xml')):
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory
        from ament_index_python.packages import PackageNotFoundError
    except ImportError:
        return _SOURCE_ROOT
    try:
        share = get_package_share_directory(PACKAGE)
    except (PackageNotFoundError, KeyError, ValueError, LookupError):
        return _SOURCE_ROOT
    return share if os.path.isdir(os.path.join(share, 'models')) else _SOURCE_ROOT


def share_path(*parts):
    """Return a path under the share folder (models/..., config/..., data/...)."""
    return os.path.join(share_dir(), *parts)


def default_model_path(device_type=None):
    """
    Return the bundled default model file for a device type ('cpu', 'cuda', None: the CPU's).

    On CUDA that is the CUDA SegNet where one is bundled, else (and on the CPU) the light
    model; both have the same 11 classes, so class parameters read before the device is
    known stay right.
    """
    if device_type == 'cuda':
        cuda = share_path('models', CUDA_MODEL)
        if os.path.isfile(cuda):
            return cuda
    return share_path('models', DEFAULT_MODEL)


def file_problem(path, what='model file'):
    """
    Return why ``path`` cannot be read as a ``what``, or None: the one wording for it.

    The node's parameter check, the launch files' argument checks and the model file reader
    all say it so.
    """
    if not os.path.exists(path):
        return f'{path}: no such {what}'
    if not os.path.isfile(path):
        return f'{path}: not a regular file'
    if not os.access(path, os.R_OK):
        return f'{path}: not readable'
    return None
