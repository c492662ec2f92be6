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
from ..bags.bagio import remap_topic
from ..bags.evaluate import count_undecodable
from ..bags.evaluate import find_topics
from ..bags.evaluate import read_labels
from ..bags.evaluate import score_by_stamp
from ..bags.evaluate import SpreadSamples
from ..bags.evaluate import StampIndex
from ..metrics import Scorer
from ..metrics import StreamStats
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
                samples=0, labels=True, confidence=False, clock=False, remaps=()):
    """
    Play ``image_topic`` of ``bag`` on ``publish_topic``; measure and score ``mask_topic``.

    ``image_topic`` None takes the bag's only image topic; ``label_topic`` None looks for
    one as ``find_topics`` does (``labels`` False: none), and without labels only the
    label-free figures are reported. ``class_info`` is (num_classes, ignore_index,
    class_names, class_colors). ``rate`` scales the bag's own timing (2.0 = twice as fast).
    With ``confidence`` the node's confidence topic (and its uncertainty topic, where the
    model is Bayesian) next to ``mask_topic`` is recorded too, which makes the node compute
    them. Returns (results, scorer, stats, samples): ``stats`` the StreamStats of the received
    masks in stamp order (with each frame's latency), ``samples`` up to ``samples``
    (stamp, rgb, mask, label or None) spread over the replay.

    The node that publishes ``mask_topic`` is found in the ROS graph; its ``/diagnostics``
    counters are read before the first frame and again after the replay (waiting up to
    ``diagnostics_timeout`` s for a message published after the last output, with no frame
    left in flight), and the difference is reported as ``node_counters``;
    ``frames_dropped_by_node`` is the node's own ``frames_dropped`` count (None when the
    node published no diagnostics). ``outputs_missing`` is frames sent minus masks received.

    ``publish_topic`` None publishes on the bag's image topic after ``remaps`` ((old, new)
    pairs), as ``ros2 bag play`` does. With ``clock``, /clock carries the bag's time (its
    record stamps, scaled by ``rate``) while the frames play, as ``ros2 bag play --clock``
    does, so that a node started with ``use_sim_time:=true`` runs on bag time; latencies
    here stay on the steady clock.
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
    source = io.open_bag(bag)
    try:
        if not source.topics:
            raise io.BagError(f'{bag}: the bag is empty')
        image_topic, label_topic, how = find_topics(bag, source, image_topic, label_topic,
                                                    labels, tolerance_ns)
        label_map = read_labels(bag, label_topic, scorer, source) if label_topic else {}
        frames = [(m.timestamp, m) for m in io.read_messages(
            bag, [image_topic], on_error=count_undecodable(scorer), source=source)]
        cut = source.cut
    finally:
        source.close()
    if not frames:
        raise io.BagError(f'{bag}: no messages on {image_topic}')
    msg_type = CompressedImage if frames[0][1].msgtype == io.COMPRESSED else Image
    publish_topic = publish_topic or remap_topic(image_topic, remaps)

    peer = Peer('segnet_replay')
    pub = peer.publisher(msg_type, publish_topic, depth=10)
    clock_pub = peer.publisher(Clock, '/clock', depth=10) if clock else None
    peer.record(mask_topic, depth=100)
    base = mask_topic.rsplit('/', 1)[0]
    extra_topics = {}  # 'confidence' / 'uncertainty' -> topic
    if confidence:
        extra_topics['confidence'] = f'{base}/confidence'
        peer.record(extra_topics['confidence'], depth=100)
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
            peer.wait_connected(pub, topics=[mask_topic, *extra_topics.values()],
                                timeout=connect_timeout)
            if confidence and peer.node.count_publishers(f'{base}/uncertainty'):
                extra_topics['uncertainty'] = f'{base}/uncertainty'
                peer.record(extra_topics['uncertainty'], depth=100)
                peer.wait_connected(pub, topics=[extra_topics['uncertainty']],
                                    timeout=connect_timeout)
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
        # The confidence (and uncertainty) of each mask received, published right after it.
        peer.wait_for(lambda: all(len(peer.received[t]) >= len(peer.received[mask_topic])
                                  for t in extra_topics.values()), timeout=settle_s)
        t_end = time.monotonic()
        with peer.cond:
            received = list(peer.received[mask_topic])
            maps = {name: list(peer.received[t]) for name, t in extra_topics.items()}
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

    latency = {io.stamp_ns(msg): (t_recv - sent[io.stamp_ns(msg)]) * 1000
               for t_recv, msg in received if io.stamp_ns(msg) in sent}
    latencies = list(latency.values())
    masks = {}

    def decode_output(msg):
        stamp = io.stamp_ns(msg)
        if stamp not in masks:
            try:
                masks[stamp] = np.asarray(conversions.imgmsg_to_numpy(msg))
            except conversions.ConversionError:
                scorer.skip('output does not decode')
                masks[stamp] = None
        return None if masks[stamp] is None else (masks[stamp], None)

    scored, unmatched, _ = score_by_stamp(((io.stamp_ns(msg), msg) for _, msg in received),
                                          label_map, scorer, decode_output, tolerance_ns)
    # The label-free figures over the masks in stamp order, each frame at its bag time.
    bag_time = {io.stamp_ns(m.msg): t for t, m in frames}
    by_stamp = {io.stamp_ns(m.msg): m for _, m in frames}
    index = StampIndex(label_map, tolerance_ns)
    stats = StreamStats(num_classes, ignore_index)
    spread = SpreadSamples(samples)
    planes = {name: {} for name in maps}
    for name, msgs in maps.items():
        for _, msg in msgs:
            try:
                planes[name][io.stamp_ns(msg)] = conversions.imgmsg_to_numpy(msg)
            except conversions.ConversionError:
                scorer.skip(f'{name} output does not decode')
    for _, msg in sorted(received, key=lambda r: io.stamp_ns(r[1])):
        stamp = io.stamp_ns(msg)
        decoded = decode_output(msg)
        if decoded is None or stamp not in bag_time:
            continue
        key = index.match(stamp) if stamp in scored else None
        label = label_map[key] if key is not None else None
        extra = {name: plane.get(stamp) for name, plane in planes.items()}
        stats.add(decoded[0], bag_time[stamp], label=label, latency_ms=latency.get(stamp),
                  **extra)

        def sample(stamp=stamp, mask=decoded[0], label=label):
            try:
                rgb = io.decode_rgb(by_stamp[stamp])
            except (conversions.ConversionError, io.BagError):
                return None
            return (stamp, rgb, mask, label) if rgb.shape[:2] == mask.shape else None
        spread.offer(sample)
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
    res.update(stats.results(names))
    res.update({
        'bag': bag, 'image_topic': image_topic, 'label_topic': label_topic,
        'label_topic_source': how, 'cut': cut,
        'frames_sent': len(frames), 'outputs_received': len(received),
        'frames_dropped_by_node': counters['frames_dropped'] if counters else None,
        'outputs_missing': len(frames) - len(received),
        'node_counters': counters,
        'outputs_without_ground_truth': unmatched if label_topic else None,
        'latency_ms_p50': lat['p50'], 'latency_ms_p95': lat['p95'], 'latency_ms_max': lat['max'],
        'throughput_hz': (len(received) - 1) / span if span > 0 else 0.0,
        'input_rate_hz': (len(frames) - 1) / (t_last - t0) if t_last > t0 else 0.0,
        'replay_s': t_end - t0,
    })
    return res, scorer, stats, [x for x in spread.items() if x is not None]
