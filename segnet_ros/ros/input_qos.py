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
The camera subscription, whose reliability follows the camera's (``input_reliability: auto``).

Why: an HD frame (2.7 MB at 720p, 6.2 MB at 1080p) is sent in many fragments. A best-effort
reader drops every sample that lost one, and with stock Fast DDS settings on the camera side
that is every sample: 0 of 15 1080p frames reached a best-effort reader, while a reliable
reader got 15 of 15 (``benchmarks/bench_hd_input.py``). A reliable reader, though, cannot
match a best-effort camera at all. So, as ``ros2 bag record`` does, the node looks at the
publishers on its topic: all reliable -> a reliable reader, any best-effort (or none yet)
-> a best-effort one, which matches every publisher. It re-checks twice a second, so a
camera that starts after the node is followed. A new reader is created before the old one
is destroyed, so no frame is lost to the switch, and a frame both deliver is offered once.
"""

from rclpy.qos import QoSPolicyKind
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

from .interfaces import default_qos
from .interfaces import STEADY

CHECK_PERIOD_S = 0.5
# An old reader that still matters (no frame from the new one yet) is kept this long at most.
RETIRE_AFTER_S = 5.0


def _key(msg):
    return msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id


def follows_publishers(params, overrides, topic):
    """Return True when the reader's reliability follows the publishers' on ``topic``."""
    return (params['input_reliability'] == 'auto'
            and f'qos_overrides.{topic}.subscription.reliability' not in overrides)


def wanted_reliability(publisher_qos, current):
    """
    Return the reader reliability that matches every publisher in ``publisher_qos``.

    ``current`` is kept when there is no publisher (nothing to match yet).
    """
    if not publisher_qos:
        return current
    if all(q.reliability == ReliabilityPolicy.RELIABLE for q in publisher_qos):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


class InputSubscription:
    """
    One logical camera input made of one reader (two for a moment while it switches).

    The QoS is the node's input default (``input_depth``, ``input_reliability``) with
    ``qos_overrides.<topic>.subscription.*`` applied; the reliability follows the
    publishers when ``input_reliability`` is 'auto' and no override sets it.
    """

    def __init__(self, node, msg_type, topic, callback, params):
        self._node, self._type, self._topic, self._callback = node, msg_type, topic, callback
        self._qos = default_qos(params, 'input')
        # rclpy keeps the overrides given on the command line and in parameters files here.
        adaptive = follows_publishers(params, getattr(node, '_parameter_overrides', {}), topic)
        self.adaptive = adaptive
        self._old = self._old_since = self._timer = None
        self._last_key, self._new_delivered = None, True
        if adaptive:
            # Reliability is ours to choose; depth and history stay overridable.
            options = QoSOverridingOptions(policy_kinds=[QoSPolicyKind.HISTORY,
                                                         QoSPolicyKind.DEPTH])
        else:
            options = QoSOverridingOptions.with_default_policies()
        self.sub, self._options = self._make(options), options
        if adaptive:
            self._timer = node.create_timer(CHECK_PERIOD_S, self.check, clock=STEADY)
            self.check()

    topic_name = property(lambda self: self.sub.topic_name)
    reliability = property(lambda self: self.sub.qos_profile.reliability)

    def _make(self, options, qos=None):
        sub_box = []

        def deliver(msg):
            self._on_message(sub_box[0], msg)
        sub = self._node.create_subscription(self._type, self._topic, deliver,
                                             qos or self._qos, qos_overriding_options=options)
        sub_box.append(sub)
        return sub

    def _on_message(self, sub, msg):
        if sub is self.sub:
            first = not self._new_delivered
            self._new_delivered = True
            if first and _key(msg) == self._last_key:
                return  # the old reader delivered this very frame already
        elif sub is not self._old or self._new_delivered:
            return  # the old reader's copy of a frame the new one delivers
        self._last_key = _key(msg)
        self._callback(msg)

    def check(self):
        """Follow the publishers' reliability; retire a reader the new one has replaced."""
        now = STEADY.now().nanoseconds / 1e9
        if self._old is not None and (self._new_delivered
                                      or now - self._old_since > RETIRE_AFTER_S):
            self._node.destroy_subscription(self._old)
            self._old = None
        infos = self._node.get_publishers_info_by_topic(self.sub.topic_name)
        want = wanted_reliability([i.qos_profile for i in infos], self.reliability)
        if want == self.reliability or self._old is not None:
            return
        qos = QoSProfile(depth=self._qos.depth, history=self._qos.history, reliability=want)
        new = self._make(self._options, qos)
        self._old, self._old_since = self.sub, now
        self.sub, self._new_delivered = new, False
        reliable = want == ReliabilityPolicy.RELIABLE
        self._node.get_logger().info(
            f'input {self.sub.topic_name}: '
            f"{'every publisher is reliable' if reliable else 'a publisher is best-effort'}, "
            f"reading {'reliable' if reliable else 'best-effort'} (input_reliability auto)")

    def describe(self):
        """Say how the reader reads, for the ready line and /diagnostics."""
        text = 'reliable' if self.reliability == ReliabilityPolicy.RELIABLE else 'best-effort'
        return f'{text}, following the publishers' if self.adaptive else text

    def destroy(self):
        """Destroy the readers and the check timer."""
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
        for sub in (self.sub, self._old):
            if sub is not None:
                self._node.destroy_subscription(sub)
        self.sub = self._old = self._timer = None
