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
Run a node as a process: init, spin, a clean exit on signals and one line on bad set-up.

``ros2 launch`` forwards Ctrl-C as a second SIGINT a moment after the terminal's; a second
signal must not interrupt the clean-up that the first one started, and the process exits 0.
"""

import sys

import rclpy
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException

from .entry import guard_signals
from .entry import ignore_signals
from .entry import interrupted
from ..dds import ProfileError
from ..dds import use_large_image_transport
from ..pipeline import confine_to_one_thread
from ..stats import keep_large_buffers


def run_node(node_class, program, args=None, startup_errors=()):
    """
    Build ``node_class()``, spin it until a signal, close it; return the exit code.

    An exception in ``startup_errors`` (or an invalid parameter) while building the node is
    one line ``<program>: error: ...`` on stderr and exit code 2. The node's ``close()``
    runs before ``destroy_node()``.
    """
    guard_signals()  # already in place when started through segnet_ros.ros.entry
    try:
        use_large_image_transport()
    except ProfileError as e:
        print(f'{program}: error: Fast DDS profile {e}', file=sys.stderr)
        return 2
    keep_large_buffers()
    confine_to_one_thread()  # the model's forward runs in the worker, with all the cores
    node, built, code = None, False, 0
    try:
        rclpy.init(args=args)
        # Two steps, so that a node whose __init__ fails can still be destroyed below:
        # left to the garbage collector after rclpy.shutdown(), it crashed the process.
        node = node_class.__new__(node_class)
        node.__init__()
        built = True
        rclpy.spin(node)
    except startup_errors as e:
        if interrupted():  # the error is the signal, as a library reported it
            print(f'{program}: interrupted during start-up (before the ready line), exiting',
                  file=sys.stderr)
        else:
            print(f'{program}: error: {e}', file=sys.stderr)
            code = 2
    except (InvalidParameterValueException, InvalidParameterTypeException) as e:
        print(f'{program}: error: invalid parameter: {e}', file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        if not built:
            print(f'{program}: interrupted during start-up (before the ready line), exiting',
                  file=sys.stderr)
    finally:
        ignore_signals()  # from here on a signal must not cut the clean-up short
        if node is not None and not built:
            # __init__ failed part of the way: release whatever it got to.
            for step in (getattr(node, 'close', None), node.destroy_node):
                try:
                    step()
                except Exception:  # noqa: B902 - that part was never built
                    pass
        elif node is not None:
            node.close()
            name = node.get_logger().name
            node.destroy_node()
            # The node's name, not its logger: that one also writes to /rosout, whose
            # publisher a signal may already have shut down with the context; once the node
            # is destroyed its name has no /rosout publisher left.
            rclpy.logging.get_logger(name).info('shut down, worker stopped, model released')
        if rclpy.ok():
            rclpy.shutdown()
    return code
