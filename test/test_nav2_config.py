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

"""The Nav2 semantic_segmentation_layer example matches the bundled model and our topics."""

import os

from segnet_ros import modelfile
from segnet_ros.paths import default_model_path
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'config', 'nav2_semantic_segmentation_layer.yaml')


def _camera():
    with open(CONFIG) as f:
        doc = yaml.safe_load(f)
    layer = doc['local_costmap']['local_costmap']['ros__parameters'][
        'semantic_segmentation_layer']
    assert layer['plugin'] == 'semantic_segmentation_layer::SemanticSegmentationLayer'
    return layer[layer['observation_sources']]


def test_every_class_in_the_example_exists_in_the_bundled_model_once():
    camera = _camera()
    names = modelfile.read_model_info(default_model_path()).class_names
    listed = [c for t in camera['class_types'] for c in camera[t]['classes']]
    assert listed and set(listed) <= set(names), set(listed) - set(names)
    assert len(listed) == len(set(listed))  # a class in two types would be ambiguous
    assert set(names) - set(listed) == {'Sky'}  # every class with depth has a cost
    for t in camera['class_types']:
        for key in ('base_cost', 'max_cost', 'mark_confidence', 'samples_to_max_cost'):
            assert 0 <= camera[t][key] <= 254 or key == 'samples_to_max_cost', (t, key)


def test_the_example_names_the_topics_segnet_launch_publishes():
    camera = _camera()
    assert camera['segmentation_topic'] == '/segnet/class_mask'
    assert camera['confidence_topic'] == '/segnet/confidence'
    assert camera['labels_topic'] == '/segnet/label_info'
    assert camera['pointcloud_topic'] == '/segnet_cloud/points'
