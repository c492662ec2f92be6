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
The bundled models, scored on the bundled sample bag as the node runs them.

A broken, retrained or swapped model file fails here: each must score within 2 mIoU
points of the figure recorded when it was bundled (models/README.md), in the precision the
node picks by default on the machine that runs the test.
"""

import os

import pytest
from segnet_ros.bags.evaluate import offline_evaluate
from segnet_ros.inference import Segmenter
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAG = os.path.join(ROOT, 'data', 'camvid_val_sample')
MODELS = os.path.join(ROOT, 'models')
# mIoU (%) on the sample bag with the node's defaults (upsample mask, mc_samples 8), by the
# precision the node runs: 'bfloat16' on CPUs with native bf16, 'float32' elsewhere.
RECORDED = {
    'segnet_camvid_light.safetensors': {'float32': 49.75, 'bfloat16': 49.83},
    'segnet_camvid_light_bayesian.safetensors': {'float32': 50.79, 'bfloat16': 51.04},
}
TOLERANCE = 2.0


@pytest.fixture(autouse=True)
def _threads():
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize('name', sorted(RECORDED))
def test_bundled_model_scores_what_it_scored_when_bundled(name):
    torch.manual_seed(0)  # Monte Carlo dropout of the Bayesian model
    seg = Segmenter(os.path.join(MODELS, name), device='cpu', mc_samples=8)
    assert seg.bayesian == ('bayesian' in name)
    _, res, _ = offline_evaluate(BAG, seg, '/camera/image_raw', '/camera/labels')
    assert res['frames_scored'] == 10
    want = RECORDED[name][seg.dtype_name]
    miou = 100 * res['miou']
    assert miou >= want - TOLERANCE, (
        f'{name} scores mIoU {miou:.2f} on the sample bag in {seg.dtype_name}; it scored '
        f'{want:.2f} when it was bundled')
