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
The node's outputs: which topics exist for a model, who listens, what goes out per frame.

The topics follow the model: a Bayesian model adds ``~/uncertainty`` and a swap to another
model removes it again. They change only on the worker's thread, between two frames
(``FramePipeline``'s ``on_swap``), so a frame never publishes on a topic being destroyed.
The class mask (and a mono8 confidence) also go out PNG-compressed on ``<topic>/compressed``,
as image_transport's ``compressed`` transport sends them, encoded only while someone listens.
``~/label_info`` (vision_msgs/LabelInfo) names the classes for consumers that map them by
name (Nav2's semantic_segmentation_layer); without vision_msgs the node runs without it.
"""

from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image
from std_msgs.msg import String

try:
    from vision_msgs.msg import LabelInfo
    from vision_msgs.msg import VisionClass
except ImportError:  # the package.xml dependency is not installed: no ~/label_info
    LabelInfo = VisionClass = None

from .interfaces import class_info
from .interfaces import LATCHED
from .interfaces import OUTPUTS
from .. import conversions
from ..camera import scale_camera_info

# Compressed companions of image topics: PNG, lossless, for mono8 content only.
COMPRESSED = {'class_mask/compressed': 'class_mask', 'confidence/compressed': 'confidence'}
# LabelInfo.threshold: the mask is every pixel's most likely class, no threshold applied.
LABEL_THRESHOLD = 0.0


class Outputs:
    """
    Publishers of one node, for the model it runs.

    ``endpoint(create, msg_type, topic)`` creates a publisher with the node's QoS and
    overrides; ``lifecycle``: image topics are lifecycle publishers, enabled with the node.
    """

    _said_no_label_info = False  # once per process

    def __init__(self, node, endpoint, lifecycle=False):
        self.node, self._endpoint, self._lifecycle = node, endpoint, lifecycle
        self.images = {}  # topic -> publisher, the compressed ones included
        self.camera_info = self.class_info = self.label_info = None
        self.active = not lifecycle

    def _topics(self, segmenter):
        raw = [t for t, (out, _) in OUTPUTS.items() if out != 'uncertainty'
               or segmenter.bayesian]
        return raw + [t for t, base in COMPRESSED.items() if base in raw]

    def _add_image(self, topic):
        n = self.node
        create = n.create_lifecycle_publisher if self._lifecycle else n.create_publisher
        msg_type = CompressedImage if topic in COMPRESSED else Image
        pub = self.images[topic] = self._endpoint(create, msg_type, f'~/{topic}')
        if self._lifecycle and self.active:
            pub.on_activate(None)  # created while active: enabled as the others are

    def _remove_image(self, topic):
        pub = self.images.pop(topic)
        n = self.node
        (n.destroy_lifecycle_publisher if self._lifecycle else n.destroy_publisher)(pub)

    def create(self, segmenter, params):
        """Create the topics ``segmenter`` has, camera_info when used and ``~/class_info``."""
        for topic in self._topics(segmenter):
            self._add_image(topic)
        if params['use_camera_info']:
            self.camera_info = self._endpoint(self.node.create_publisher, CameraInfo,
                                              '~/camera_info')
        self.class_info = self.node.create_publisher(String, '~/class_info', LATCHED)
        if LabelInfo is not None:
            self.label_info = self.node.create_publisher(LabelInfo, '~/label_info', LATCHED)
        elif not Outputs._said_no_label_info:
            Outputs._said_no_label_info = True
            self.node.get_logger().warning(
                'vision_msgs is not installed: no ~/label_info (vision_msgs/LabelInfo); '
                '~/class_info still names the classes (install ros-$ROS_DISTRO-vision-msgs)')
        self.publish_class_info(segmenter)

    def follow(self, segmenter):
        """After a swap: add or remove the topics the new model has or lacks; new class info."""
        wanted = self._topics(segmenter)
        for topic in [t for t in self.images if t not in wanted]:
            self._remove_image(topic)
        for topic in [t for t in wanted if t not in self.images]:
            self._add_image(topic)
        self.publish_class_info(segmenter)

    def publish_class_info(self, segmenter):
        """Publish ``~/class_info`` and ``~/label_info`` (both latched) for ``segmenter``."""
        if self.class_info is not None and segmenter is not None:
            self.class_info.publish(class_info(segmenter, self.images['class_mask'].topic_name))
        if self.label_info is not None and segmenter is not None:
            msg = LabelInfo(threshold=LABEL_THRESHOLD, class_map=[
                VisionClass(class_id=i, class_name=name)
                for i, name in enumerate(segmenter.class_names)])
            msg.header.stamp = self.node.get_clock().now().to_msg()
            self.label_info.publish(msg)

    def destroy(self):
        """Destroy every publisher."""
        for topic in list(self.images):
            self._remove_image(topic)
        for pub in (self.camera_info, self.class_info, self.label_info):
            if pub is not None:
                self.node.destroy_publisher(pub)
        self.camera_info = self.class_info = self.label_info = None

    def _listened(self, topic, params):
        base = COMPRESSED.get(topic, topic)
        if not params[f'publish_{base}'] or self.images[topic].get_subscription_count() == 0:
            return False
        # PNG carries mono8 only: a 32FC1 confidence has no compressed form.
        return base != 'confidence' or topic == base or params['confidence_encoding'] == 'mono8'

    def wanted(self, params):
        """Return the Segmenter outputs someone subscribes to and the parameters enable."""
        want = {OUTPUTS[COMPRESSED.get(t, t)][0] for t in self.images if self._listened(t, params)}
        if want and self.camera_info is not None:
            want.add('mask')  # camera_info is scaled to the mask's size
        return want

    def publisher(self, params, header, camera_info):
        """Return ``emit(output, array)`` publishing each output as it is ready."""
        def emit(output, arr):
            for topic, (out, encoding) in OUTPUTS.items():
                if out != output or topic not in self.images or not params[f'publish_{topic}']:
                    continue
                if topic == 'confidence' and params['confidence_encoding'] == 'mono8':
                    arr, encoding = conversions.unit_to_mono8(arr), 'mono8'  # once a frame
                self.images[topic].publish(conversions.numpy_to_imgmsg(
                    arr, encoding, Image, header=header))
                packed = f'{topic}/compressed'
                if packed in self.images and encoding == 'mono8' and self._listened(packed,
                                                                                    params):
                    self.images[packed].publish(conversions.mono8_to_png(
                        arr, CompressedImage, header=header))
            if output == 'mask' and self.camera_info is not None and camera_info is not None:
                self.camera_info.publish(scale_camera_info(camera_info, header, arr.shape[1],
                                                           arr.shape[0]))
        return emit
