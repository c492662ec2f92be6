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
The usual way, for comparison only: inference inside the subscription callback.

A plain rclpy node with a reliable depth-10 image queue that runs the same model in its
callback and publishes the mask, as many published segmentation nodes do. Used by
benchmarks/bench_node.py; not part of the package.
"""

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from segnet_ros import conversions
from segnet_ros.inference import Segmenter
from segnet_ros.paths import default_model_path
from sensor_msgs.msg import Image


class NaiveNode(Node):
    """Infers in the callback; frames queue up while it works."""

    def __init__(self):
        super().__init__('naive_segnet')
        self.declare_parameter('model_path', default_model_path())
        self.declare_parameter('device', 'cpu')
        self.seg = Segmenter(self.get_parameter('model_path').value,
                             device=self.get_parameter('device').value)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.create_publisher(Image, '~/class_mask', qos)
        self.create_subscription(Image, 'image', self.on_image, qos)

    def on_image(self, msg):
        """Segment and publish, in the callback."""
        mask = self.seg.segment(conversions.to_rgb8(msg), outputs=('mask',)).mask
        self.pub.publish(conversions.numpy_to_imgmsg(mask, 'mono8', Image, header=msg.header))


def main():
    """Spin until interrupted."""
    rclpy.init()
    node = NaiveNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == '__main__':
    main()
