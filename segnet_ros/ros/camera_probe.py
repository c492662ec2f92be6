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
A camera driver as users run one: stock DDS settings, frames one at a time, answers counted.

Runs as its own process (``python -m segnet_ros.ros.camera_probe``) because a DDS profile is
read when the process starts: this one drops ``FASTDDS_DEFAULT_PROFILES_FILE`` (and the
Fast DDS 2.x name) unless ``--keep-profile`` is given, then publishes ``--frames`` frames of
``--size`` to ``--topic``, each after the node answered the last one on ``--mask`` (or a
timeout passed), and prints one JSON line: frames sent, answered, latencies in ms.
"""

import argparse
import json
import os
import sys
import time

from ..camera import parse_frame_size

_PROFILE_VARS = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE',
                 'FASTDDS_BUILTIN_TRANSPORTS')


def _wait_reliable_reader(node, pub, topic, timeout):
    """
    Wait until a reliable reader on ``topic`` exists and every reader has matched ``pub``.

    A node with ``input_reliability: auto`` reads best-effort until it sees this publisher
    and then adds a reliable reader; an HD frame sent before that reader matched is lost.
    A reader that stays best-effort (``input_reliability: best_effort``) is waited for
    ``timeout`` seconds, then the frames go anyway.
    """
    from rclpy.qos import ReliabilityPolicy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readers = node.get_subscriptions_info_by_topic(topic)
        if any(r.qos_profile.reliability == ReliabilityPolicy.RELIABLE for r in readers) \
                and pub.get_subscription_count() >= len(readers):
            return
        time.sleep(0.02)


def probe(topic, mask_topic, size, encoding, reliable, frames, timeout, wait_s):
    """Publish ``frames`` frames one at a time; return what came back."""
    import numpy as np
    from sensor_msgs.msg import Image

    from .peer import Peer
    from .. import conversions
    peer = Peer('camera_probe')
    try:
        pub = peer.publisher(Image, topic, reliable=reliable)
        peer.record(mask_topic)
        peer.wait_connected(pub, None, [mask_topic], timeout=wait_s)
        if reliable:
            _wait_reliable_reader(peer.node, pub, topic, min(wait_s, 10.0))
        w, h = size
        rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
        lat = []
        for i in range(frames):
            msg = conversions.numpy_to_imgmsg(rgb, encoding, Image)
            msg.header.stamp.sec, msg.header.frame_id = 100 + i, 'camera'
            t0 = time.monotonic()
            pub.publish(msg)
            if peer.wait_for(lambda: peer.first(mask_topic, (100 + i, 0)), timeout=timeout):
                lat.append((peer.first(mask_topic, (100 + i, 0))[0] - t0) * 1000)
        return {'size': f'{w}x{h}', 'encoding': encoding,
                'reliability': 'reliable' if reliable else 'best_effort', 'sent': frames,
                'answered': len(lat), 'latency_ms': lat}
    finally:
        peer.close()


def main(argv=None):
    """Parse arguments, drop the DDS profile, run the probe and print one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--topic', required=True, help="the node's input topic")
    p.add_argument('--mask', required=True, help="the node's class_mask topic")
    p.add_argument('--size', type=parse_frame_size, default=(1920, 1080), metavar='WxH')
    p.add_argument('--encoding', default='bgr8', choices=('bgr8', 'rgb8'))
    p.add_argument('--reliability', default='reliable', choices=('reliable', 'best_effort'))
    p.add_argument('--frames', type=int, default=12)
    p.add_argument('--timeout', type=float, default=5.0, help='seconds to wait per answer')
    p.add_argument('--wait', type=float, default=60.0, help='seconds to wait for discovery')
    p.add_argument('--keep-profile', action='store_true',
                   help='keep the DDS profile of the environment (default: stock settings)')
    args = p.parse_args(argv)
    if not args.keep_profile and any(os.environ.get(k) for k in _PROFILE_VARS):
        env = {k: v for k, v in os.environ.items() if k not in _PROFILE_VARS}
        os.execve(sys.executable, [sys.executable, '-m', __spec__.name, *sys.argv[1:]], env)
    import rclpy
    rclpy.init()
    try:
        out = probe(args.topic, args.mask, args.size, args.encoding,
                    args.reliability == 'reliable', args.frames, args.timeout, args.wait)
    except TimeoutError as e:
        print(f'camera_probe: {e}', file=sys.stderr)
        return 1
    finally:
        rclpy.try_shutdown()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
