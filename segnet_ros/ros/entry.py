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
The console scripts' entry points: the signal handlers first, the heavy imports after.

A console script imports its module before ``main()`` runs, and ``segnet_node``'s module
pulls in torch and rclpy (1-3 s). A Ctrl-C in that time used to end in a KeyboardInterrupt
traceback from the import machinery and a process killed by the signal. Here nothing but
``signal`` and ``sys`` is imported before the handlers are in place; a signal during the
imports is one line and a clean exit. Only the standard library may be imported at the
top of this module. ``python -m segnet_ros.ros.entry <script> [args]`` runs a script the
same way (the tests and the launch files start the nodes so).
"""

import importlib
import signal
import sys

# script -> (module, function, exit code when interrupted before the work starts). The nodes
# exit 0 (ros2 launch reports any other code as a failure); the tools 130, as shells expect.
SCRIPTS = {
    'segnet_node': ('segnet_ros.ros.node', 'main', 0),
    'segnet_lifecycle_node': ('segnet_ros.ros.node', 'main_lifecycle', 0),
    'segnet_cloud_node': ('segnet_ros.ros.cloud_node', 'main', 0),
    'segnet_bag': ('segnet_ros.bags.tools', 'main', 130),
    'segnet_demo': ('segnet_ros.ros.demo', 'main', 130),
    'segnet_train': ('segnet_ros.training.train', 'main', 130),
    'segnet_eval': ('segnet_ros.training.evaluate', 'main', 130),
    'segnet_export': ('segnet_ros.training.export', 'main', 130),
}


def ignore_signals():
    """Ignore SIGINT and SIGTERM from here on (a clean-up in progress must not be cut)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


_signalled = []  # the signal that asked this process to stop, once one did


def interrupted():
    """Whether SIGINT or SIGTERM asked this process to stop."""
    return bool(_signalled)


def guard_signals():
    """
    Turn the first SIGINT / SIGTERM into KeyboardInterrupt and ignore any later one.

    ``ros2 launch`` forwards Ctrl-C as a second SIGINT a moment after the terminal's; the
    second must not interrupt the clean-up the first one started. rclpy's own handlers
    (installed by ``rclpy.init``) run first and chain to these. The signal is remembered:
    a library that turns the KeyboardInterrupt into an error of its own (safetensors does,
    inside a load) must not make a stop look like a failure.
    """
    def handler(signum, frame):
        _signalled.append(signum)
        ignore_signals()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run(script, argv=None):
    """Run console script ``script`` with the handlers installed before its imports."""
    module, function, interrupted_code = SCRIPTS[script]
    guard_signals()
    imported = False
    try:
        main = getattr(importlib.import_module(module), function)
        imported = True
        if interrupted_code:
            # The tools: Ctrl-C as Python's default from here on (they catch it themselves).
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return main(argv) if argv is not None else main()
    except KeyboardInterrupt:
        when = 'during start-up (importing)' if not imported else 'before it could start'
        print(f'{script}: interrupted {when}, exiting', file=sys.stderr)
        return interrupted_code


def segnet_node():
    """``segnet_node``."""
    return run('segnet_node')


def segnet_lifecycle_node():
    """``segnet_lifecycle_node``."""
    return run('segnet_lifecycle_node')


def segnet_cloud_node():
    """``segnet_cloud_node``."""
    return run('segnet_cloud_node')


def segnet_bag():
    """``segnet_bag``."""
    return run('segnet_bag')


def segnet_demo():
    """``segnet_demo``."""
    return run('segnet_demo')


def segnet_train():
    """``segnet_train``."""
    return run('segnet_train')


def segnet_eval():
    """``segnet_eval``."""
    return run('segnet_eval')


def segnet_export():
    """``segnet_export``."""
    return run('segnet_export')


if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in SCRIPTS:
        print(f"usage: python -m segnet_ros.ros.entry {{{','.join(SCRIPTS)}}} [args]",
              file=sys.stderr)
        sys.exit(2)
    name = sys.argv.pop(1)
    sys.argv[0] = name
    sys.exit(run(name))
