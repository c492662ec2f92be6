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
Export a model file to ONNX: used by the ONNX Runtime backend and by ``segnet_export``.

No ROS import and no training import: the inference core exports the model it runs.
"""

import os
import warnings

import torch

from . import modelfile

ONNX_OPSET = 17


def export_onnx(model_path, out, opset=ONNX_OPSET, fp16=False):
    """
    Export a model file to ONNX with dynamic batch and image size.

    Input ``image``: (N, 3, H, W) float, normalised with the model's mean/std (in the ONNX
    metadata). Output ``logits``: (N, K, H, W).
    """
    if opset < ONNX_OPSET:
        raise ValueError(f'opset must be >= {ONNX_OPSET}, got {opset}')
    model, info = modelfile.load_model_file(model_path)
    h, w = info.input_size
    dummy = torch.zeros(1, 3, h, w)
    if fp16:
        model, dummy = model.half(), dummy.half()
    tmp = f'{out}.tmp{os.getpid()}'
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript, and handles the
        # data-dependent unpool sizes with dynamic axes.
        warnings.simplefilter('ignore')
        torch.onnx.export(
            model, (dummy,), tmp, opset_version=opset, dynamo=False,
            input_names=['image'], output_names=['logits'],
            dynamic_axes={'image': {0: 'batch', 2: 'height', 3: 'width'},
                          'logits': {0: 'batch', 2: 'height', 3: 'width'}})
    import onnx
    proto = onnx.load(tmp)
    for key in ('architecture', 'class_names', 'class_colors', 'mean', 'std', 'input_size',
                'ignore_index'):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(getattr(info, key))
    onnx.save(proto, tmp)
    os.replace(tmp, out)
