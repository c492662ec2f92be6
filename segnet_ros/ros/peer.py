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
The one ROS peer: start a node process, wait for discovery, publish frames, collect outputs.

The demo, live replay, the benchmarks and the tests all drive segnet_node through this.
Waits are on the ROS graph (matched publishers and subscriptions), never on a fixed sleep:
DDS discovery on loopback takes 0.3-4 s.
"""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.srv import GetParameters
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import Image

_names = itertools.count()


def stamp_key(msg):
    """Return (sec, nanosec) of a message's header stamp."""
    return msg.header.stamp.sec, msg.header.stamp.nanosec


class NodeProcess:
    """
    segnet_node (or the lifecycle node) as a child process, with parameters and remaps.

    Its input is remapped to ``image_topic`` (``/<name>_cam/image`` unless given) and its
    outputs are under ``/<name>/``. Output goes to ``<log_dir>/<name>.log`` when a
    ``log_dir`` is given, nowhere when ``quiet``, else to this process's terminal.
    """

    def __init__(self, params, name=None, image_topic=None, remaps=(), log_dir=None,
                 lifecycle=False, entry=None, env=None, quiet=False, ros_args=()):
        self.name = name or f'segnet_p{os.getpid()}_{next(_names)}'
        self.image_topic = image_topic or f'/{self.name}_cam/image'
        # entry: what follows the Python executable, e.g. ['-m', 'pkg.mod'] or [script path]
        # As the executables start them: signal handlers before the heavy imports.
        entry = entry or ['-m', 'segnet_ros.ros.entry',
                          'segnet_lifecycle_node' if lifecycle else 'segnet_node']
        args = [sys.executable, *entry, '--ros-args',
                '-r', f'__node:={self.name}', '-r', f'image:={self.image_topic}',
                '-r', f'camera_info:={self.image_topic.rsplit("/", 1)[0]}/camera_info']
        for r in remaps:
            args += ['-r', r]
        for k, v in params.items():
            args += ['-p', f'{k}:={_yaml(v)}']
        args += list(ros_args)  # e.g. ['--params-file', path]
        self.log_path = os.path.join(log_dir, f'{self.name}.log') if log_dir else None
        self._log = open(self.log_path, 'w') if self.log_path else None
        out = self._log or (subprocess.DEVNULL if quiet else None)
        self.proc = subprocess.Popen(args, env=env, stdout=out,
                                     stderr=subprocess.STDOUT if out is not None else None)
        self.pid = self.proc.pid

    def topic(self, rel):
        """Return the fully qualified name of a private topic of the node."""
        return f'/{self.name}/{rel}'

    def output(self):
        """Return everything the process printed so far (when it logs to a file)."""
        if self._log is None:
            return ''
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        """Whether the process still runs."""
        return self.proc.poll() is None

    def wait_exit(self, timeout=30.0):
        """Wait for the process to end; return its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def stop(self, sig=signal.SIGINT, timeout=20.0):
        """Signal the process (if it runs), wait for it, kill it after ``timeout``; exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            if self._log is not None:
                self._log.close()


def _matched(sub):
    # Subscription.get_publisher_count exists from Iron (rclpy 4.0) on; Humble has graph
    # discovery only.
    count = getattr(sub, 'get_publisher_count', None)
    return count() > 0 if count else True


def _yaml(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return str(v)


class Peer:
    """An rclpy node spinning in a thread: publishes inputs, records outputs, calls services."""

    def __init__(self, name=None):
        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node(name or f'segnet_peer_{os.getpid()}_{next(_names)}')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.cond = threading.Condition()
        self.received = {}       # topic -> [(receive time, msg), ...]
        self.diagnostics = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass  # Ctrl-C shut rclpy down; the owner sees it (rclpy.ok(), its own interrupt)

    def close(self):
        """Stop spinning and destroy the node."""
        self.executor.shutdown()
        self._thread.join(timeout=5)
        self.node.destroy_node()

    def publisher(self, msg_type, topic, reliable=True, depth=1):
        """Return a new publisher: reliable (a camera driver's default) unless told."""
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        return self.node.create_publisher(msg_type, topic, qos)

    def record(self, topic, msg_type=Image, latched=False, depth=50):
        """Record every message on ``topic`` as (receive time, msg); return the subscription."""
        self.received.setdefault(topic, [])
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                         else DurabilityPolicy.VOLATILE)

        def cb(msg):
            t = time.monotonic()
            with self.cond:
                self.received[topic].append((t, msg))
                self.cond.notify_all()
        return self.node.create_subscription(msg_type, topic, cb, qos)

    def first(self, topic, stamp):
        """Return (receive time, msg) of the first message on ``topic`` with ``stamp``."""
        with self.cond:
            return next(((t, m) for t, m in self.received.get(topic, [])
                         if stamp_key(m) == stamp), None)

    def stamps(self, topic):
        """Return the header stamps received on ``topic`` so far."""
        with self.cond:
            return [stamp_key(m) for _, m in self.received.get(topic, [])]

    def record_diagnostics(self):
        """Record /diagnostics."""
        def cb(msg):
            with self.cond:
                self.diagnostics.append(msg)
                self.cond.notify_all()
        self.node.create_subscription(DiagnosticArray, '/diagnostics', cb, 10)

    def latest_diagnostics(self, node_name):
        """Return the newest key/value dict reported by ``node_name`` (or None)."""
        with self.cond:
            for arr in reversed(self.diagnostics):
                for st in arr.status:
                    if f'/{node_name}:' in st.name:
                        return {kv.key: kv.value for kv in st.values}
        return None

    def wait_for(self, predicate, timeout=20.0):
        """Wait until ``predicate()`` is true (evaluated under the lock); return its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self.cond.wait(min(left, 0.1))

    def wait_connected(self, pub, proc=None, topics=(), timeout=60.0):
        """
        Wait until ``pub`` has a subscriber and the recorded ``topics`` matched publishers.

        Matched, not only discovered: the first frame after discovery can otherwise be lost.
        Raises RuntimeError when ``proc`` (a NodeProcess) exits, TimeoutError after
        ``timeout``.
        """
        deadline = time.monotonic() + timeout
        subs = [s for s in self.node.subscriptions if s.topic_name in topics]
        while True:
            if proc is not None and not proc.alive():
                raise RuntimeError(f'node {proc.name} exited early ({proc.proc.returncode})'
                                   f':\n{proc.output()}')
            if pub.get_subscription_count() > 0 and all(
                    self.node.count_publishers(t) > 0 for t in topics) and all(
                    _matched(s) for s in subs):
                return
            if time.monotonic() > deadline:
                name = proc.name if proc is not None else pub.topic_name
                raise TimeoutError(f'{name} did not connect in {timeout:.0f} s'
                                   + (f':\n{proc.output()}' if proc is not None else ''))
            time.sleep(0.02)

    def publish_until(self, pub, msg, predicate, timeout=20.0, period=0.25):
        """
        Publish ``msg`` every ``period`` until ``predicate()`` holds; return its value.

        Right after matching, a first message can still be lost; tests resend the same
        frame (same stamp) instead of relying on one publish.
        """
        deadline = time.monotonic() + timeout
        while True:
            pub.publish(msg)
            value = self.wait_for(predicate, timeout=period)
            if value or time.monotonic() > deadline:
                return value

    def service(self, srv_type, name, timeout=10.0):
        """Return a client of service ``name`` once it is available."""
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f'service {name} not available')
        return client

    def call(self, client, req, timeout=20.0, resend_every=None):
        """
        Call a service and wait for the answer.

        Right after discovery a server may not yet know the client's reply reader, and the
        first answer is lost; an idempotent request (a query) can be re-sent every
        ``resend_every`` seconds until one answer comes back.
        """
        future = client.call_async(req)
        deadline = time.monotonic() + timeout
        resend = time.monotonic() + resend_every if resend_every else None
        while not future.done():
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f'{client.srv_name} did not answer')
            if resend is not None and now > resend:
                client.remove_pending_request(future)
                future = client.call_async(req)
                resend = now + resend_every
            time.sleep(0.01)
        return future.result()

    def set_parameters(self, node_name, **values):
        """Set parameters through the node's ~/set_parameters; return the results."""
        client = self.service(SetParameters, f'/{node_name}/set_parameters')
        req = SetParameters.Request()
        req.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        return self.call(client, req).results

    def get_parameters(self, node_name, *names):
        """Read parameters through the node's ~/get_parameters; return {name: value}."""
        client = self.service(GetParameters, f'/{node_name}/get_parameters')
        req = GetParameters.Request()
        req.names = list(names)
        res = self.call(client, req, resend_every=2.0)
        return {n: Parameter.from_parameter_msg(ParameterMsg(name=n, value=v)).value
                for n, v in zip(names, res.values)}
