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

"""Test harness: the real segnet_node in a child process, driven by an in-process rclpy node."""

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
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import Image

_names = itertools.count()


class NodeProcess:
    """segnet_node started as its own process with parameters and a unique name."""

    def __init__(self, params, name=None, remaps=(), log_dir=None, lifecycle=False):
        self.name = name or f'segnet_t{os.getpid()}_{next(_names)}'
        self.image_topic = f'/{self.name}_cam/image'
        entry = ['-c', 'import sys; from segnet_ros.node import main_lifecycle; '
                 'sys.exit(main_lifecycle())'] if lifecycle else ['-m', 'segnet_ros.node']
        args = [sys.executable, *entry, '--ros-args',
                '-r', f'__node:={self.name}', '-r', f'image:={self.image_topic}',
                '-r', f'image/compressed:={self.image_topic}/compressed',
                '-r', f'camera_info:=/{self.name}_cam/camera_info']
        for r in remaps:
            args += ['-r', r]
        for k, v in params.items():
            args += ['-p', f'{k}:={_yaml(v)}']
        self.log_path = os.path.join(log_dir or '/tmp', f'{self.name}.log')
        self._log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)

    def topic(self, rel):
        """Fully qualified name of a private topic of the node."""
        return f'/{self.name}/{rel}'

    def output(self):
        """Everything the process printed so far."""
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_exit(self, timeout=30.0):
        """Wait for the process to end; return its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def stop(self, sig=signal.SIGINT, timeout=20.0):
        """Signal the process and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()


def _yaml(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return str(v)


class Driver:
    """An rclpy node spinning in a thread: publishes inputs, records outputs, calls services."""

    def __init__(self):
        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node(f'segnet_test_driver_{os.getpid()}_{next(_names)}')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.cond = threading.Condition()
        self.received = {}
        self.diagnostics = []
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self):
        """Stop spinning and destroy the node."""
        self.executor.shutdown()
        self._thread.join(timeout=5)
        self.node.destroy_node()

    def publisher(self, msg_type, topic, reliable=True, depth=1):
        """Create a publisher."""
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        return self.node.create_publisher(msg_type, topic, qos)

    def record(self, topic, msg_type=Image, latched=False):
        """Record every message on ``topic`` as (receive time, msg); return the subscription."""
        self.received.setdefault(topic, [])
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                         else DurabilityPolicy.VOLATILE)

        def cb(msg):
            with self.cond:
                self.received[topic].append((time.monotonic(), msg))
                self.cond.notify_all()
        return self.node.create_subscription(msg_type, topic, cb, qos)

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
        """Wait until ``predicate()`` is true (evaluated under the lock); return it."""
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

    def wait_connected(self, pub, proc, topics=(), timeout=30.0):
        """Wait for the node to subscribe to ``pub`` and to publish ``topics``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.proc.poll() is not None:
                raise RuntimeError(f'node exited early ({proc.proc.returncode}):\n'
                                   f'{proc.output()}')
            if pub.get_subscription_count() > 0 and all(
                    self.node.count_publishers(t) > 0 for t in topics):
                # Matched publishers, not just discovered ones, before the first frame.
                subs = [s for s in self.node.subscriptions if s.topic_name in topics]
                if all(_matched(s) for s in subs):
                    return
            time.sleep(0.05)
        raise TimeoutError(f'node {proc.name} did not connect in {timeout} s:\n{proc.output()}')

    def publish_until(self, pub, msg, predicate, timeout=20.0, period=0.25):
        """Publish ``msg`` every ``period`` until ``predicate()`` holds; return its value.

        The first messages after discovery can be lost until both sides have matched, so a
        test resends the same frame (same stamp) instead of relying on a single publish.
        """
        deadline = time.monotonic() + timeout
        while True:
            pub.publish(msg)
            value = self.wait_for(predicate, timeout=period)
            if value or time.monotonic() > deadline:
                return value

    def _service(self, srv_type, name, timeout=10.0):
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f'service {name} not available')
        return client

    def set_parameters(self, node_name, **values):
        """Call ~/set_parameters; return the list of SetParametersResult."""
        client = self._service(SetParameters, f'/{node_name}/set_parameters')
        req = SetParameters.Request()
        req.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        return self._call(client, req).results

    def get_parameters(self, node_name, *names):
        """Call ~/get_parameters; return {name: python value}."""
        client = self._service(GetParameters, f'/{node_name}/get_parameters')
        req = GetParameters.Request()
        req.names = list(names)
        res = self._call(client, req, resend_every=2.0)
        return {n: Parameter.from_parameter_msg(ParameterMsg(name=n, value=v)).value
                for n, v in zip(names, res.values)}

    def _call(self, client, req, timeout=20.0, resend_every=None):
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


def _matched(sub):
    # get_publisher_count exists on subscriptions in Jazzy+; fall back to graph discovery.
    count = getattr(sub, 'get_publisher_count', None)
    return count() > 0 if count else True
