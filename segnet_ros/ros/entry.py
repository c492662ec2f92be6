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
How every executable starts: the signal handlers first, the heavy imports after.

``segnet_node``'s module pulls in torch and rclpy (1-3 s). A Ctrl-C in that time used to
end in a KeyboardInterrupt traceback from the import machinery and a process killed by the
signal. The executables are plain scripts (``bin/``) that import only this module and call
``run``: nothing but the standard library comes before the handlers (a setuptools
console-script wrapper would import ``importlib.metadata`` and look the package up first, a
window measured under ``ros2 launch``). Only the standard library may be imported at the
top of this module. ``python -m segnet_ros.ros.entry <script> [args]`` runs a script the
same way (the tests and the launch files start the nodes so).
"""

import importlib
import os
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


def _exit_on_signal(script, code):
    """
    While the modules import, end the process at once on SIGINT / SIGTERM with ``code``.

    A KeyboardInterrupt raised there unwinds torch's or rclpy's C++ initialisation half-way:
    the process then aborted at exit (-6), or died of SIGINT (-2) after our clean exit, in
    about 1 of 8 tries. Nothing of ours is open yet, so there is nothing to clean up.
    """
    def handler(signum, frame):
        _signalled.append(signum)
        sys.stderr.write(f'{script}: interrupted during start-up (importing), exiting\n')
        sys.stderr.flush()
        os._exit(code)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _interrupted_code(default, argv):
    """Return ``--interrupted-exit-code N`` from argv (segnet_bag replay has it), else default."""
    for i, arg in enumerate(argv):
        value = arg.partition('=')[2] if arg.startswith('--interrupted-exit-code=') else (
            argv[i + 1] if arg == '--interrupted-exit-code' and i + 1 < len(argv) else None)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return default  # the tool's own parser says what is wrong with it
    return default


def run(script, argv=None):
    """Run executable ``script`` with the handlers installed before its imports."""
    module, function, interrupted_code = SCRIPTS[script]
    if interrupted_code:
        interrupted_code = _interrupted_code(
            interrupted_code, sys.argv[1:] if argv is None else list(argv))
    _exit_on_signal(script, interrupted_code)
    main = getattr(importlib.import_module(module), function)
    if SCRIPTS[script][2]:
        # The tools: Ctrl-C as Python's default from here on (they catch it themselves).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    else:
        guard_signals()
    try:
        return main(argv) if argv is not None else main()
    except KeyboardInterrupt:
        print(f'{script}: interrupted before it could start, exiting', file=sys.stderr)
        return interrupted_code


if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in SCRIPTS:
        print(f"usage: python -m segnet_ros.ros.entry {{{','.join(SCRIPTS)}}} [args]",
              file=sys.stderr)
        sys.exit(2)
    name = sys.argv.pop(1)
    sys.argv[0] = name
    sys.exit(run(name))
