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
"""

from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from std_msgs.msg import String

from .interfaces import class_info
from .interfaces import LATCHED
from .interfaces import OUTPUTS
from .. import conversions
from ..camera import scale_camera_info


class Outputs:
    """
    Publishers of one node, for the model it runs.

    ``endpoint(create, msg_type, topic)`` creates a publisher with the node's QoS and
    overrides; ``lifecycle``: image topics are lifecycle publishers, enabled with the node.
    """

    def __init__(self, node, endpoint, lifecycle=False):
        self.node, self._endpoint, self._lifecycle = node, endpoint, lifecycle
        self.images = {}  # topic -> publisher
        self.camera_info = self.class_info = None
        self.active = not lifecycle

    def _topics(self, segmenter):
        return [t for t, (out, _) in OUTPUTS.items() if out != 'uncertainty'
                or segmenter.bayesian]

    def _add_image(self, topic):
        n = self.node
        create = n.create_lifecycle_publisher if self._lifecycle else n.create_publisher
        pub = self.images[topic] = self._endpoint(create, Image, f'~/{topic}')
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
        """Publish ``~/class_info`` (latched) for ``segmenter``."""
        if self.class_info is not None and segmenter is not None:
            self.class_info.publish(class_info(segmenter, self.images['class_mask'].topic_name))

    def destroy(self):
        """Destroy every publisher."""
        for topic in list(self.images):
            self._remove_image(topic)
        for pub in (self.camera_info, self.class_info):
            if pub is not None:
                self.node.destroy_publisher(pub)
        self.camera_info = self.class_info = None

    def wanted(self, params):
        """Return the Segmenter outputs someone subscribes to and the parameters enable."""
        want = {OUTPUTS[t][0] for t, pub in self.images.items()
                if params[f'publish_{t}'] and pub.get_subscription_count() > 0}
        if want and self.camera_info is not None:
            want.add('mask')  # camera_info is scaled to the mask's size
        return want

    def publisher(self, params, header, camera_info):
        """Return ``emit(output, array)`` publishing each output as it is ready."""
        def emit(output, arr):
            for topic, (out, encoding) in OUTPUTS.items():
                if out == output and topic in self.images and params[f'publish_{topic}']:
                    self.images[topic].publish(conversions.numpy_to_imgmsg(
                        arr, encoding, Image, header=header))
            if output == 'mask' and self.camera_info is not None and camera_info is not None:
                self.camera_info.publish(scale_camera_info(camera_info, header, arr.shape[1],
                                                           arr.shape[0]))
        return emit
