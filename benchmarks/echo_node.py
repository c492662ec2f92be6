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
The transport floor, for comparison only: segnet_node's topics and messages, without a model.

A plain rclpy node with segnet_node's QoS (reliable input and outputs, depth 1) and its DDS
settings that, in its subscription callback, converts each frame as the node does and
publishes the four outputs at the frame's size from arrays made once (the class mask first).
What it costs a frame is what DDS, rclpy's executors and message building cost before and
after any segmentation: benchmarks/bench_node.py runs it beside the node. Not part of the
package.
"""

import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from segnet_ros import conversions
from segnet_ros.ros.process import run_node
from sensor_msgs.msg import Image

OUTPUTS = (('class_mask', 'mono8', np.uint8, 1), ('color_mask', 'rgb8', np.uint8, 3),
           ('overlay', 'rgb8', np.uint8, 3), ('confidence', '32FC1', np.float32, 1))


class EchoNode(Node):
    """Answers every frame with four outputs of its size; no model."""

    def __init__(self):
        super().__init__('segnet_echo')
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = [(self.create_publisher(Image, f'~/{topic}', qos), encoding, dtype, ch)
                     for topic, encoding, dtype, ch in OUTPUTS]
        self.arrays = {}
        self.create_subscription(Image, 'image', self.on_image, qos)

    def on_image(self, msg):
        """Convert the frame, then publish the four outputs, in the callback."""
        rgb = conversions.to_rgb8(msg)
        for pub, encoding, dtype, ch in self.pubs:
            if pub.get_subscription_count() == 0:
                continue
            key = (rgb.shape[:2], encoding)
            if key not in self.arrays:
                shape = rgb.shape[:2] + ((ch,) if ch > 1 else ())
                self.arrays[key] = np.full(shape, 7, dtype)
            pub.publish(conversions.numpy_to_imgmsg(self.arrays[key], encoding, Image,
                                                    header=msg.header))

    def close(self):
        """Nothing to release (run_node calls it)."""


if __name__ == '__main__':
    sys.exit(run_node(EchoNode, 'echo_node'))
