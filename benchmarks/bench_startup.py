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
Start-up and the first frame: time to the ready line, the first frame against the next ten.

    .venv/bin/python benchmarks/bench_startup.py --runs 3 --json out/bench_startup.json

Each run starts segnet_node (the bundled model, CPU) and measures the time from the process
start to its ready line, then sends the bundled sample frames (480x360) one at a time, the
next when the class mask of the last came back, with class_mask and overlay subscribed (as
the demo), and reports the first frame's latency against the median of the next ten.
``--source DIR`` runs the node from another checkout (e.g. an older commit, for a before /
after table); the camera side is always this tree.
"""

import argparse
import os
import statistics
import sys
import time

from segnet_ros.bags.bagio import read_frames
from segnet_ros.dds import confine_to_localhost
from segnet_ros.dds import use_large_image_transport
from segnet_ros.paths import share_path
from segnet_ros.stats import save_json

os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
confine_to_localhost()


def one_run(peer, frames, source, i):
    """Start a node, time its ready line and its first 11 frames; return the figures."""
    import rclpy  # noqa: F401 - the peer has initialised it
    from segnet_ros import conversions
    from segnet_ros.ros.peer import NodeProcess
    from sensor_msgs.msg import Image
    import tempfile

    entry = None
    if source:
        entry = ['-c', f'import sys; sys.path.insert(0, {source!r}); '
                 'from segnet_ros.ros.node import main; sys.exit(main())']
    name = f'bench_startup_{os.getpid()}_{i}'
    log_dir = tempfile.mkdtemp(prefix='bench_startup_')
    t0 = time.monotonic()
    node = NodeProcess({'device': 'cpu'}, name=name, image_topic=f'/{name}/image',
                       log_dir=log_dir, entry=entry)
    try:
        while 'ready:' not in node.output():
            if not node.alive():
                raise RuntimeError(node.output())
            time.sleep(0.005)
        ready_s = time.monotonic() - t0
        mask, overlay = node.topic('class_mask'), node.topic('overlay')
        peer.record(mask)
        peer.record(overlay)
        # Best effort, as a camera on the sensor-data QoS: input_reliability auto keeps the
        # subscription it started with (a reliable camera makes it subscribe again).
        pub = peer.publisher(Image, node.image_topic, reliable=False)
        peer.wait_connected(pub, node, [mask, overlay])
        latencies = []
        for k in range(11):
            msg = conversions.numpy_to_imgmsg(frames[k % len(frames)], 'rgb8', Image)
            msg.header.stamp.sec, msg.header.stamp.nanosec = 5000 + i, k
            key = (5000 + i, k)
            # Right after matching a best-effort frame can be lost on the way: sent again
            # after a second, the latency counts from the send that arrived.
            for _ in range(30):
                t = time.monotonic()
                pub.publish(msg)
                got = peer.wait_for(lambda: peer.first(mask, key), timeout=1.0)
                if got:
                    break
            else:
                raise RuntimeError(f'no mask for frame {k}:\n{node.output()}')
            latencies.append((got[0] - t) * 1000)
    finally:
        node.stop()
    rest = statistics.median(latencies[1:])
    return {'ready_s': ready_s, 'first_ms': latencies[0], 'next10_median_ms': rest,
            'ratio': latencies[0] / rest}


def main(argv=None):
    """Print the table; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--source', help='a checkout to run the node from (default: this tree)')
    p.add_argument('--json')
    args = p.parse_args(argv)
    if args.source and not os.path.isdir(os.path.join(args.source, 'segnet_ros')):
        p.error(f'--source {args.source}: no segnet_ros package there')
    use_large_image_transport()
    from segnet_ros.ros.peer import Peer
    frames = read_frames(share_path('data', 'camvid_val_sample'), '/camera/image_raw')
    peer = Peer(f'bench_startup_camera_{os.getpid()}')
    try:
        rows = [one_run(peer, frames, args.source, i) for i in range(args.runs)]
    finally:
        peer.close()
    print(f'segnet_node start-up and first frame, bundled model, CPU, 480x360 frames one at a '
          f'time (node from {args.source or "this tree"})')
    print(f"{'run':>4}{'ready line s':>14}{'first frame ms':>16}{'next 10 median ms':>19}"
          f"{'first / median':>16}")
    for i, r in enumerate(rows):
        print(f"{i:>4}{r['ready_s']:>14.2f}{r['first_ms']:>16.1f}{r['next10_median_ms']:>19.1f}"
              f"{r['ratio']:>16.2f}")
    save_json(args.json, {'runs': rows, 'source': args.source or '.'})
    return 0


if __name__ == '__main__':
    import page  # benchmarks/page.py: the table as a doc page, when asked
    sys.exit(page.run(main))
