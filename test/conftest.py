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

"""Shared fixtures: an isolated ROS 2 domain per test process and tiny model files."""

import os
import sys
import tempfile

import pytest

# Each pytest process gets its own DDS domain so parallel runs never cross-talk; this must
# happen before rclpy is initialised anywhere in the process.
if 'SEGNET_TEST_DOMAIN_FIXED' not in os.environ:
    os.environ['ROS_DOMAIN_ID'] = str(1 + os.getpid() % 100)
os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
os.environ.setdefault('RCUTILS_COLORIZED_OUTPUT', '0')
# Full-resolution outputs need the large-image Fast DDS profile, as users are told to set.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from segnet_ros.dds import confine_to_localhost  # noqa: E402
from segnet_ros.dds import use_large_image_transport  # noqa: E402

confine_to_localhost()  # Humble spells it ROS_LOCALHOST_ONLY
use_large_image_transport()


def _use_test_interfaces():
    """
    Put the test-only vision_msgs (scripts/setup.sh --tests) on the paths; return its prefix.

    Only where no real vision_msgs imports: a real one always wins. This process loads the
    prefix's libraries now (the type support is found by name among loaded libraries: the
    loader read LD_LIBRARY_PATH when the process started); the nodes the tests start get
    the prefix in their environment.
    """
    import ctypes
    import glob
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec('vision_msgs') is not None:
        return None
    for distro in ('kilted', 'jazzy'):
        try:
            importlib.metadata.version(f'ros-{distro}-rclpy')
        except importlib.metadata.PackageNotFoundError:
            continue
        prefix = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'build', 'test_interfaces', distro, 'install')
        site = glob.glob(os.path.join(prefix, 'lib', 'python3*', 'site-packages'))
        if not site:
            return None
        sys.path.insert(0, site[0])
        for key, value in (('PYTHONPATH', site[0]), ('LD_LIBRARY_PATH', f'{prefix}/lib'),
                           ('AMENT_PREFIX_PATH', prefix)):
            os.environ[key] = os.pathsep.join([value] + [p for p in os.environ.get(
                key, '').split(os.pathsep) if p])
        for lib in sorted(glob.glob(os.path.join(prefix, 'lib', '*.so'))):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        return prefix
    return None


TEST_INTERFACES = _use_test_interfaces()
# Exported ONNX files are cached per user; tests keep theirs apart.
os.environ['XDG_CACHE_HOME'] = tempfile.mkdtemp(prefix='segnet_ros_test_cache_')


try:
    import rclpy  # noqa: F401
    ROS = True
except ImportError:  # the ROS 2 wheels are missing: leave out the tests that need them
    ROS = False
    collect_ignore = ['test_node.py', 'test_lifecycle.py', 'test_robustness.py']


def pytest_report_header(config):
    """Say whether the tests that start real ROS 2 nodes run, and which vision_msgs."""
    return ['ROS 2 node tests: ' + ('on (rclpy found)' if ROS else 'left out (no rclpy)'),
            'vision_msgs: ' + (f'test-only, from {TEST_INTERFACES}' if TEST_INTERFACES
                               else 'as installed (or missing)')]


@pytest.fixture
def driver():
    """Yield an rclpy peer spinning in a thread (segnet_ros.ros.peer.Peer); close it after."""
    from segnet_ros.ros.peer import Peer
    d = Peer()
    yield d
    d.close()


@pytest.fixture
def start(tmp_path):
    """Start segnet_node processes (segnet_ros.ros.peer.NodeProcess), stopped after the test."""
    import signal

    from segnet_ros.ros.peer import NodeProcess
    procs = []

    def _start(params, **kw):
        p = NodeProcess(params, log_dir=str(tmp_path), **kw)
        procs.append(p)
        return p
    yield _start
    for p in procs:
        p.stop(signal.SIGKILL if p.proc.poll() is None else signal.SIGINT, timeout=10)


# segnet_node as Humble's rclpy (3.3) runs it: without the API that came later (Node's
# post-set parameters callback from Iron's 3.7, Subscription.get_publisher_count from 4.0).
# The child checks that they are gone before the node is imported.
def humble_api_entry(main='main'):
    """Return a NodeProcess entry running ``segnet_ros.ros.node.<main>`` on Humble's API."""
    return ['-c', """
import sys
from rclpy.node import Node
from rclpy.subscription import Subscription
for cls, name in ((Node, 'add_post_set_parameters_callback'),
                  (Subscription, 'get_publisher_count')):
    for klass in cls.__mro__:
        if name in vars(klass):
            delattr(klass, name)
    assert not hasattr(cls, name), name
print('rclpy as on Humble: no Node.add_post_set_parameters_callback, '
      'no Subscription.get_publisher_count', flush=True)
from segnet_ros.ros.node import %s as main
sys.exit(main())
""" % main]


def make_model_file(path, architecture='segnet', width=0.125, num_classes=4, input_size=(48, 64),
                    seed=0, class_names=None):
    """Write a randomly initialised model file (weights are irrelevant to plumbing tests)."""
    import torch

    from segnet_ros import modelfile
    from segnet_ros.nets import build_model

    torch.manual_seed(seed)
    model = build_model(architecture, num_classes, width).eval()
    # Random BN statistics so that outputs vary with the input.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    names = class_names or [f'class{i}' for i in range(num_classes)]
    colors = [[(60 * i) % 256, (110 * i + 30) % 256, (170 * i + 60) % 256]
              for i in range(num_classes)]
    info = modelfile.default_info(architecture, num_classes, width=width, class_names=names,
                                  class_colors=colors, ignore_index=255,
                                  input_size=list(input_size))
    modelfile.save_model_file(str(path), model, info)
    return str(path)


@pytest.fixture(scope='session')
def models(tmp_path_factory):
    """Tiny model files: a, b (same classes, other weights), other_classes, bayesian, slow."""
    d = tmp_path_factory.mktemp('models')
    return {
        'a': make_model_file(d / 'a.safetensors', seed=0),
        'b': make_model_file(d / 'b.safetensors', seed=1),
        'other_classes': make_model_file(d / 'c.safetensors', seed=2, num_classes=5),
        'bayesian': make_model_file(d / 'bayes.safetensors', 'bayesian_segnet', seed=3),
        # About 0.2-0.5 s a frame on a 2-core CPU: slower than a 30 Hz camera.
        'slow': make_model_file(d / 'slow.safetensors', 'segnet_basic', 1.0, 4, (240, 320)),
    }


def bad_model_files(directory, good):
    """Model files that must be refused, by what is wrong with them: name -> path."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file
    import torch

    d = str(directory)
    files = {'missing': os.path.join(d, 'missing.safetensors'), 'directory': d}
    files['corrupt'] = os.path.join(d, 'corrupt.safetensors')
    with open(files['corrupt'], 'wb') as f:
        f.write(os.urandom(4096))
    files['pickle'] = os.path.join(d, 'checkpoint.pth')
    torch.save({'state_dict': {'w': torch.zeros(3)}}, files['pickle'])
    files['png'] = os.path.join(d, 'image.safetensors')
    with open(files['png'], 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + bytes(200))
    with safe_open(good, framework='pt') as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    files['foreign safetensors'] = os.path.join(d, 'foreign.safetensors')
    save_file(tensors, files['foreign safetensors'])
    files['other architecture'] = os.path.join(d, 'other_arch.safetensors')
    save_file(tensors, files['other architecture'],
              metadata={**meta, 'architecture': json.dumps('segnet_basic')})
    first = next(k for k in tensors if tensors[k].is_floating_point())
    files['wrong dtype'] = os.path.join(d, 'float64.safetensors')
    save_file({**tensors, first: tensors[first].double()}, files['wrong dtype'], metadata=meta)
    files['wrong shape'] = os.path.join(d, 'shape.safetensors')
    save_file({**tensors, first: tensors[first][:1].contiguous()}, files['wrong shape'],
              metadata=meta)
    files['truncated'] = os.path.join(d, 'truncated.safetensors')
    with open(good, 'rb') as src, open(files['truncated'], 'wb') as dst:
        dst.write(src.read(os.path.getsize(good) // 2))
    if os.geteuid() != 0:  # root reads anything: no unreadable file exists for it
        files['unreadable'] = os.path.join(d, 'unreadable.safetensors')
        with open(good, 'rb') as src, open(files['unreadable'], 'wb') as dst:
            dst.write(src.read())
        os.chmod(files['unreadable'], 0)
    return files


# Skips CI accepts: what this machine kind cannot have. Under CI=true any other skip fails
# the run, so a package missing from the venv cannot silently drop its tests.
ALLOWED_SKIPS = ('launch_ros not importable', 'ament_copyright is not installable',
                 'no CUDA device')
_skips = []


def pytest_runtest_logreport(report):
    """Collect the reason of every skipped test."""
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
            report.longrepr)
        _skips.append((report.nodeid, reason))


def pytest_terminal_summary(terminalreporter):
    """List every skip with its reason; under CI, fail on a reason outside ALLOWED_SKIPS."""
    if not _skips:
        return
    terminalreporter.section('skipped tests and why')
    bad = []
    for nodeid, reason in _skips:
        allowed = any(a in reason for a in ALLOWED_SKIPS)
        terminalreporter.line(f"{'' if allowed else 'NOT ALLOWED: '}{nodeid}: {reason}")
        if not allowed:
            bad.append(nodeid)
    if bad and os.environ.get('CI'):
        terminalreporter.line(f'{len(bad)} test(s) skipped for a reason CI does not accept')
        terminalreporter._session.exitstatus = 1
