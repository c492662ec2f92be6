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
Register the editable segnet_ros install of a venv in that venv's ament index.

An editable pip install leaves out what colcon installs: the ament index marker,
share/segnet_ros and the executables under lib/segnet_ros. This script adds them, as links
into the source tree, so that ``get_package_share_directory('segnet_ros')``, ``ros2 run`` and
``ros2 launch`` work with AMENT_PREFIX_PATH set to the venv. Run it with the venv's Python
(scripts/setup.sh does); it is idempotent.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'segnet_ros'
SHARED = ('package.xml', 'launch', 'config', 'models', 'data')  # as setup.py installs them


def link(target, path):
    """Make ``path`` a symbolic link to ``target``, replacing an older link or file."""
    if os.path.islink(path) or os.path.isfile(path):
        if os.path.islink(path) and os.readlink(path) == target:
            return
        os.remove(path)
    elif os.path.isdir(path):
        raise SystemExit(f'register_ament: {path} is a folder; remove it and run again')
    os.symlink(target, path)


def main(prefix=sys.prefix):
    """Create the marker, the share links and lib/segnet_ros/ in ``prefix``."""
    index = os.path.join(prefix, 'share', 'ament_index', 'resource_index', 'packages')
    os.makedirs(index, exist_ok=True)
    open(os.path.join(index, PACKAGE), 'a').close()
    share = os.path.join(prefix, 'share', PACKAGE)
    os.makedirs(share, exist_ok=True)
    for name in SHARED:
        link(os.path.join(ROOT, name), os.path.join(share, name))
    lib = os.path.join(prefix, 'lib', PACKAGE)
    os.makedirs(lib, exist_ok=True)
    scripts = sorted(os.listdir(os.path.join(ROOT, 'bin')))  # as setup.py installs them
    for name in scripts:
        exe = os.path.join(prefix, 'bin', name)
        if not os.path.isfile(exe):
            raise SystemExit(f'register_ament: {exe} is missing; is {PACKAGE} installed in '
                             f'{prefix}?')
        link(exe, os.path.join(lib, name))
    print(f'{PACKAGE} registered in {prefix}: share/{PACKAGE}, lib/{PACKAGE} '
          f'({len(scripts)} executables)')


if __name__ == '__main__':
    main()
