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
Live replay: play a bag's images into a running segnet node over ROS 2 and score its output.

Only topic names tie this to the node, so it works against ``segnet_demo``'s node, a node
from ``ros2 launch`` or one on another machine of the same ROS domain. Frames keep their
header stamps, so outputs pair with ground truth by stamp; latency is measured from each
publish to the mask's arrival. What happened to each frame inside the node (received,
segmented, dropped as stale, rejected, failed) is read from the node's own ``/diagnostics``
counters, before and after the replay.
"""

import time

import numpy as np

from .. import conversions
from ..bags import bagio as io
from ..bags.evaluate import check_topic_types
from ..bags.evaluate import count_undecodable
from ..bags.evaluate import read_labels
from ..bags.evaluate import score_by_stamp
from ..metrics import Scorer
from ..stats import summarize


# The node's /diagnostics counters; every frame it receives ends in exactly one of the
# others (or is still in flight).
COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected',
            'inference_errors', 'out_of_memory_errors', 'frames_without_subscribers')


def _in_flight(counters):
    return counters['frames_received'] - sum(counters[k] for k in COUNTERS[1:])


def _publisher_nodes(node, topic):
    """Return the fully qualified names of the nodes publishing ``topic`` once all are known."""
    names = set()
    for info in node.get_publishers_info_by_topic(topic):
        if info.node_name == '_NODE_NAME_UNKNOWN_':  # the endpoint is seen before its node
            return set()
        names.add(f"{info.node_namespace.rstrip('/')}/{info.node_name}")
    return names


def _ros_message(bag_msg):
    """Turn a rosbags image message into the rclpy message type of the same name."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CompressedImage
    from sensor_msgs.msg import Image
    cls = CompressedImage if bag_msg.msgtype == io.COMPRESSED else Image
    raw = io.TYPESTORE.serialize_cdr(bag_msg.msg, bag_msg.msgtype)
    return deserialize_message(bytes(raw), cls)


def live_replay(bag, image_topic, label_topic, publish_topic, mask_topic, class_info,
                rate=1.0, tolerance_ns=0, settle_s=3.0, connect_timeout=60.0,
                record_bag=None, storage='sqlite3', log=print, diagnostics_timeout=5.0,
                clock=False):
    """
    Play ``image_topic`` of ``bag`` on ``publish_topic`` and score ``mask_topic``.

    ``class_info`` is (num_classes, ignore_index, class_names, class_colors). ``rate``
    scales the bag's own timing (2.0 = twice as fast). Returns the results dict and scorer.

    The node that publishes ``mask_topic`` is found in the ROS graph; its ``/diagnostics``
    counters are read before the first frame and again after the replay (waiting up to
    ``diagnostics_timeout`` s for a message published after the last output, with no frame
    left in flight), and the difference is reported as ``node_counters``;
    ``frames_dropped_by_node`` is the node's own ``frames_dropped`` count (None when the
    node published no diagnostics). ``outputs_missing`` is frames sent minus masks received.

    With ``clock``, /clock carries the bag's time (its record stamps, scaled by ``rate``) while
    the frames play, as ``ros2 bag play --clock`` does, so that a node started with
    ``use_sim_time:=true`` runs on bag time; latencies here stay on the steady clock.
    """
    from builtin_interfaces.msg import Time as TimeMsg
    from diagnostic_msgs.msg import DiagnosticArray
    from rosgraph_msgs.msg import Clock
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CompressedImage
    from sensor_msgs.msg import Image

    from .peer import Peer

    if rate <= 0:
        raise ValueError(f'rate must be > 0, got {rate}')
    num_classes, ignore_index, names, colors = class_info
    # No overlay samples: the live outputs are masks, the images stay in the bag.
    scorer = Scorer(num_classes, ignore_index, names, colors)
    check_topic_types(bag, image_topic, label_topic)
    labels = read_labels(bag, label_topic, scorer)
    frames = [(m.timestamp, m) for m in
              io.read_messages(bag, [image_topic], on_error=count_undecodable(scorer))]
    if not frames:
        raise io.BagError(f'{bag}: no messages on {image_topic}')
    msg_type = CompressedImage if frames[0][1].msgtype == io.COMPRESSED else Image

    peer = Peer('segnet_replay')
    pub = peer.publisher(msg_type, publish_topic, depth=10)
    clock_pub = peer.publisher(Clock, '/clock', depth=10) if clock else None
    peer.record(mask_topic, depth=100)
    segnet_nodes = set()  # fully qualified names of the nodes that publish mask_topic
    diagnostics = []  # their counters, in the order they arrive

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.rsplit(': ', 1)[0] not in segnet_nodes:
                continue
            values = {kv.key: kv.value for kv in status.values}
            try:
                counters = {k: int(values[k]) for k in COUNTERS}
            except (KeyError, ValueError):
                continue
            with peer.cond:
                diagnostics.append(counters)
                peer.cond.notify_all()

    peer.node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    sent = {}
    try:
        try:
            peer.wait_connected(pub, topics=[mask_topic], timeout=connect_timeout)
            deadline = time.monotonic() + connect_timeout
            while not _publisher_nodes(peer.node, mask_topic):
                if time.monotonic() > deadline:
                    raise TimeoutError
                time.sleep(0.05)
        except TimeoutError:
            raise TimeoutError(f'no node subscribes {publish_topic} and publishes '
                               f'{mask_topic} after {connect_timeout:.0f} s') from None
        with peer.cond:
            segnet_nodes.update(_publisher_nodes(peer.node, mask_topic))
        # The node's counters before the first frame.
        peer.wait_for(lambda: diagnostics, timeout=diagnostics_timeout)
        with peer.cond:
            before = diagnostics[-1] if diagnostics else None
        log(f'replaying {len(frames)} frames from {bag} onto {publish_topic} at x{rate}')
        t0_bag, t0 = frames[0][0], time.monotonic()
        for bag_time, m in frames:
            due = t0 + (bag_time - t0_bag) / 1e9 / rate
            while True:
                delay = due - time.monotonic()
                if clock_pub is not None:  # bag time now, every 25 ms at most
                    ns = bag_time - int(max(delay, 0.0) * rate * 1e9)
                    clock_pub.publish(Clock(clock=TimeMsg(sec=ns // 10**9, nanosec=ns % 10**9)))
                if delay <= 0:
                    break
                time.sleep(min(delay, 0.025) if clock_pub is not None else delay)
            msg = _ros_message(m)
            sent[io.stamp_ns(m.msg)] = time.monotonic()
            pub.publish(msg)
        t_last = time.monotonic()
        peer.wait_for(lambda: len(peer.received[mask_topic]) >= len(frames), timeout=settle_s)
        t_end = time.monotonic()
        with peer.cond:
            received = list(peer.received[mask_topic])
        after = None
        if before is not None:
            with peer.cond:
                # The second message from now on was published after this point; wait for
                # later ones while the node still has a frame in flight.
                seen = len(diagnostics)
            peer.wait_for(lambda: len(diagnostics) >= seen + 2 and _in_flight(
                diagnostics[-1]) == 0, timeout=diagnostics_timeout)
            with peer.cond:
                after = diagnostics[-1]
    finally:
        peer.close()

    latencies = [(t_recv - sent[io.stamp_ns(msg)]) * 1000 for t_recv, msg in received
                 if io.stamp_ns(msg) in sent]

    def decode_output(msg):
        try:
            return np.asarray(conversions.imgmsg_to_numpy(msg)), None
        except conversions.ConversionError:
            scorer.skip('output does not decode')
            return None

    _, unmatched, _ = score_by_stamp(((io.stamp_ns(msg), msg) for _, msg in received), labels,
                                     scorer, decode_output, tolerance_ns)
    if record_bag:
        with io.BagWriter(record_bag, storage) as out:
            for t_recv, msg in received:
                out.write_raw(mask_topic, io.IMAGE, serialize_message(msg), io.stamp_ns(msg))
    lat = summarize(latencies)
    # Outputs per second between the first and the last output.
    span = received[-1][0] - received[0][0] if len(received) > 1 else 0.0
    res = scorer.results()
    counters = None
    if after is not None:
        counters = {k: after[k] - before[k] for k in COUNTERS}
        counters['in_flight'] = _in_flight(counters)
    res.update({
        'frames_sent': len(frames), 'outputs_received': len(received),
        'frames_dropped_by_node': counters['frames_dropped'] if counters else None,
        'outputs_missing': len(frames) - len(received),
        'node_counters': counters,
        'outputs_without_ground_truth': unmatched,
        'latency_ms_p50': lat['p50'], 'latency_ms_p95': lat['p95'], 'latency_ms_max': lat['max'],
        'throughput_hz': (len(received) - 1) / span if span > 0 else 0.0,
        'input_rate_hz': (len(frames) - 1) / (t_last - t0) if t_last > t0 else 0.0,
        'replay_s': t_end - t0,
    })
    return res, scorer
