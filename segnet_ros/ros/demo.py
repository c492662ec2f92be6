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
``segnet_demo``: the README's main job.

Starts ``segnet_node`` as its own process on the bundled model, feeds it the bundled sample
frames over real ROS 2 topics, writes each overlay it publishes to a folder and prints the
per-frame latency (camera publish -> mask received).
"""

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image as PILImage

from .. import conversions
from .. import modelfile
from ..bags import bagio as io
from ..dds import use_large_image_transport
from ..paths import default_model_path
from ..paths import share_path
from ..stats import summarize

SAMPLE_BAG = ('data', 'camvid_val_sample')
SHOWN = ('class_mask', 'overlay')


def run(args):
    """Drive the node with the sample frames; return the exit code."""
    import rclpy
    from sensor_msgs.msg import Image

    from .peer import NodeProcess
    from .peer import Peer

    frames = io.read_frames(args.bag, args.topic)
    names = modelfile.read_model_info(args.model).class_names
    if not frames:
        print(f'segnet_demo: error: {args.bag} has no frames on {args.topic}', file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    use_large_image_transport()  # this process and the node it starts
    peer = Peer('segnet_demo_camera')
    node = NodeProcess({'model_path': args.model, 'device': args.device}, name=args.name,
                       image_topic='/camera/image_raw')
    pub = peer.publisher(Image, '/camera/image_raw')
    for kind in SHOWN:
        peer.record(node.topic(kind))
    latencies, code = [], 0
    try:
        try:
            peer.wait_connected(pub, node, [node.topic(k) for k in SHOWN],
                                timeout=args.startup_timeout)
        except (RuntimeError, TimeoutError) as e:
            print(f'segnet_demo: error: segnet_node did not come up: {e}', file=sys.stderr)
            return 1

        def frame_msg(rgb):
            msg = conversions.numpy_to_imgmsg(rgb, 'rgb8', Image)
            msg.header.frame_id = 'camera'
            msg.header.stamp = peer.node.get_clock().now().to_msg()
            return msg, (msg.header.stamp.sec, msg.header.stamp.nanosec)

        def answered(stamp):
            return all(peer.first(node.topic(k), stamp) for k in SHOWN)

        # Until the node has matched our subscriptions it skips frames as unwatched: send a
        # warm-up frame (not shown) until both outputs come back.
        msg, stamp = frame_msg(frames[0])
        if not peer.publish_until(pub, msg, lambda: answered(stamp),
                                  timeout=args.startup_timeout, period=1.0):
            print('segnet_demo: error: segnet_node did not answer a frame in '
                  f'{args.startup_timeout:.0f} s', file=sys.stderr)
            return 1
        print(f'segnet_node is up; sending {args.frames} frames from {args.bag}')
        print(f"{'frame':>5} {'latency ms':>11}  classes in view")
        for i in range(args.frames):
            msg, stamp = frame_msg(frames[i % len(frames)])
            sent = time.monotonic()
            pub.publish(msg)
            got = peer.wait_for(lambda: answered(stamp), timeout=args.frame_timeout)
            if not got:
                print(f'{i:>5} {"timeout":>11}')
                continue
            (t_mask, mask_msg), (_, overlay_msg) = (peer.first(node.topic(k), stamp)
                                                    for k in SHOWN)
            latencies.append((t_mask - sent) * 1000)
            overlay = conversions.imgmsg_to_numpy(overlay_msg)
            PILImage.fromarray(overlay).save(os.path.join(args.out, f'overlay_{i:04d}.png'))
            print(f'{i:>5} {latencies[-1]:>11.1f}  '
                  f'{describe(conversions.imgmsg_to_numpy(mask_msg), names)}')
        s = summarize(latencies)
        print(f"\n{s['n']}/{args.frames} frames segmented; latency ms: mean {s['mean']:.1f}, "
              f"p50 {s['p50']:.1f}, p95 {s['p95']:.1f}, max {s['max']:.1f}; overlays in "
              f'{os.path.abspath(args.out)}')
        if s['n'] < args.frames:
            code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        rc = node.stop()
        peer.close()
        if rclpy.ok():
            rclpy.shutdown()
        if rc != 0:
            print(f'segnet_demo: segnet_node exited with code {rc}', file=sys.stderr)
            code = code or 1
    return code


def describe(mask, names, top=4):
    """Return the largest classes of a mask as 'Road 31%, Sky 20%, ...'."""
    counts = np.bincount(mask.ravel(), minlength=len(names))
    order = np.argsort(counts)[::-1][:top]
    return ', '.join(f'{names[i] if i < len(names) else i} {100 * counts[i] / mask.size:.0f}%'
                     for i in order if counts[i])


def get_args_parser():
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='segnet_demo', description=__doc__.split('\n\n')[1])
    p.add_argument('--model', default=default_model_path(), help='model file')
    p.add_argument('--bag', default=share_path(*SAMPLE_BAG), help='bag with camera frames')
    p.add_argument('--topic', default='/camera/image_raw', help='image topic in the bag')
    p.add_argument('--frames', type=int, default=20, help='frames to send (the bag loops)')
    p.add_argument('--out', default='out/demo', help='folder for the overlay PNGs')
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N')
    p.add_argument('--name', default='segnet', help='node name')
    p.add_argument('--startup-timeout', type=float, default=60.0)
    p.add_argument('--frame-timeout', type=float, default=30.0)
    return p


def main(argv=None):
    """Entry point."""
    args = get_args_parser().parse_args(argv)
    if args.frames < 1:
        print('segnet_demo: error: --frames must be >= 1', file=sys.stderr)
        return 2
    for path, what in ((args.model, 'model'), (args.bag, 'bag')):
        if not os.path.exists(path):
            print(f'segnet_demo: error: {what} {path} not found', file=sys.stderr)
            return 2
    try:
        return run(args)
    except (io.BagError, modelfile.ModelFileError) as e:
        print(f'segnet_demo: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
