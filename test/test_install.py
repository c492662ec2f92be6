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
The package as the ament index finds it: share files, executables, the installed node.

Run from a colcon install (``source install/setup.bash``; .ci/run does) this checks the
install space; run in .venv it checks what scripts/setup.sh registered there. Which one is
under test is whatever ``get_package_prefix('segnet_ros')`` answers.
"""

import ast
import os
import re
import subprocess
import time

from ament_index_python.packages import get_package_prefix
from ament_index_python.packages import get_package_share_directory
import numpy as np
import pytest
from segnet_ros import paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'segnet_ros'
SHARE_FUNCTIONS = ('share_path',)              # share_path('config', 'x.yaml')
SHARE_ROOTS = ('get_package_share_directory', 'share_dir')


def _python_files():
    for folder in ('segnet_ros', 'launch'):
        for root, dirs, names in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            yield from (os.path.join(root, n) for n in names if n.endswith('.py'))


def _constants(tree):
    """Return the module-level NAME = 'text' / ('a', 'b') assignments."""
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def _parts(args, constants):
    """Return the path parts of a call's arguments, or None when one is not a constant."""
    parts = []
    for arg in args:
        if isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name):
            value = constants.get(arg.value.id)
            if not isinstance(value, tuple):
                return None
            parts.extend(value)
        elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            parts.append(arg.value)
        elif isinstance(arg, ast.Name) and isinstance(constants.get(arg.id), str):
            parts.append(constants[arg.id])
        else:
            return None
    return parts


def _name(func):
    return func.id if isinstance(func, ast.Name) else getattr(func, 'attr', None)


def share_paths_in_code():
    """
    Return every path below the share folder that the code or a launch file opens, by scanning.

    Finds ``share_path(<constants>)`` and ``os.path.join(share, <constants>)`` where
    ``share`` was assigned from ``get_package_share_directory(...)`` / ``share_dir()``.
    Returns {relative path: [file:line, ...]}.
    """
    found = {}
    for path in _python_files():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        constants = _constants(tree)
        share_vars = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign)
                      and isinstance(n.value, ast.Call) and _name(n.value.func) in SHARE_ROOTS
                      for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            args = None
            if _name(node.func) in SHARE_FUNCTIONS:
                args = node.args
            elif _name(node.func) == 'join' and node.args and (
                    (isinstance(node.args[0], ast.Name) and node.args[0].id in share_vars) or
                    (isinstance(node.args[0], ast.Call) and
                     _name(node.args[0].func) in SHARE_ROOTS)):
                args = node.args[1:]
            if not args:
                continue
            parts = _parts(args, constants)
            if parts:
                where = f'{os.path.relpath(path, ROOT)}:{node.lineno}'
                found.setdefault('/'.join(parts), []).append(where)
    return found


def test_scanner_finds_the_paths_the_node_and_launch_files_open():
    # A floor, so that a scanner that finds nothing cannot pass the test below.
    found = share_paths_in_code()
    for rel in ('models/segnet_camvid_light.safetensors', 'config/fastdds_large_images.xml',
                'config/segnet.yaml', 'data/camvid_val_sample'):
        assert rel in found, sorted(found)


def test_every_file_the_code_opens_is_installed():
    share = get_package_share_directory(PACKAGE)
    wanted = dict(share_paths_in_code())
    wanted['package.xml'] = ['package.xml']
    for name in os.listdir(os.path.join(ROOT, 'launch')):
        if name.endswith('.launch.py'):
            wanted[f'launch/{name}'] = ['launch/']
    # Bundled only once trained on a GPU (default_model_path falls back while it is absent);
    # where the repository has it, it must be installed like the rest.
    optional = {f'models/{paths.CUDA_MODEL}'}
    assert optional <= set(wanted), 'the scanner no longer sees the optional CUDA model'
    missing = {rel: where for rel, where in wanted.items()
               if not os.path.exists(os.path.join(share, rel)) and
               (rel not in optional or os.path.exists(os.path.join(ROOT, rel)))}
    assert not missing, f'not under {share}: {missing}'
    # The sample bag is a folder: its metadata and storage file are both there.
    bag = os.path.join(share, 'data', 'camvid_val_sample')
    assert {'metadata.yaml', 'camvid_val_sample.db3'} <= set(os.listdir(bag))


def test_ament_index_has_the_package_and_its_executables():
    prefix = get_package_prefix(PACKAGE)
    marker = os.path.join(prefix, 'share', 'ament_index', 'resource_index', 'packages', PACKAGE)
    assert os.path.isfile(marker)
    for exe in sorted(os.listdir(os.path.join(ROOT, 'bin'))):
        path = os.path.join(prefix, 'lib', PACKAGE, exe)
        assert os.access(path, os.X_OK), path
        # Newer setuptools writes '#!python' for pip to rewrite; setup.py install does not.
        with open(path) as f:
            interpreter = f.readline()[2:].split()[0]
        assert os.path.isabs(interpreter) and os.access(interpreter, os.X_OK), (path, interpreter)


@pytest.mark.ros
def test_installed_node_uses_installed_model_and_dds_profile_and_answers(tmp_path, driver):
    from segnet_ros import conversions
    from sensor_msgs.msg import Image

    prefix = get_package_prefix(PACKAGE)
    share = get_package_share_directory(PACKAGE)
    name = f'segnet_install_{os.getpid()}'
    topic = f'/{name}_cam/image'
    env = {k: v for k, v in os.environ.items()
           if k not in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')}
    log = tmp_path / 'node.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen([os.path.join(prefix, 'lib', PACKAGE, 'segnet_node'),
                                 '--ros-args', '-r', f'__node:={name}', '-r', f'image:={topic}',
                                 '-p', 'device:=cpu'], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=str(tmp_path))
    try:
        deadline = time.monotonic() + 90
        while 'ready:' not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        ready = next(ln for ln in log.read_text().splitlines() if 'ready:' in ln)
        model = os.path.join(share, 'models', 'segnet_camvid_light.safetensors')
        profile = os.path.join(share, 'config', 'fastdds_large_images.xml')
        # realpath: the venv's share folder (and a --symlink-install) links to the sources.
        said = re.search(r'ready: model (\S+) .*profile (\S+) in effect', ready)
        assert said, ready
        assert os.path.realpath(said.group(1)) == os.path.realpath(model), ready
        assert os.path.realpath(said.group(2)) == os.path.realpath(profile), ready
        mask_topic = f'/{name}/class_mask'
        driver.record(mask_topic)
        pub = driver.publisher(Image, topic)
        while pub.get_subscription_count() == 0:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        frame = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
        msg = conversions.numpy_to_imgmsg(frame, 'rgb8', Image)
        assert driver.publish_until(pub, msg, lambda: driver.received[mask_topic], timeout=60)
        mask = driver.received[mask_topic][0][1]
        assert (mask.height, mask.width) == (90, 120)
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
