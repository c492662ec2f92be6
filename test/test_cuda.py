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
Checks that need a real CUDA device (benchmarks/gpu_check.sh runs them on a lent GPU).

fp16 against fp32 masks on the sample frames, the Segmenter's single device-to-host copy,
a real out-of-memory error while segmenting, GPU memory released when a model is closed,
and the node over DDS on CUDA at 1080p. Each check prints one ``CUDA check`` line and,
where ``SEGNET_GPU_REPORT`` names a file, appends it there as JSON.
"""

import gc
import json
import os
import time

import numpy as np
from PIL import Image as PILImage
import pytest
from segnet_ros import conversions
from segnet_ros import modelfile
from segnet_ros.inference import free_cached_memory
from segnet_ros.inference import is_out_of_memory
from segnet_ros.inference import Segmenter
from segnet_ros.nets import build_model
from segnet_ros.paths import default_model_path
from segnet_ros.paths import share_path
import torch

try:
    import rclpy  # noqa: F401
    NO_ROS = ''
except ImportError as e:  # the ROS 2 wheels are missing: no node over DDS
    NO_ROS = f'rclpy is not importable ({e}); the node over DDS is left out'

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason='no CUDA device (torch.cuda.is_available() is False)')]
ALL_OUTPUTS = ('mask', 'color', 'overlay', 'confidence')
MIB = 2 ** 20


def report(check, **values):
    """Print one result line and append it to $SEGNET_GPU_REPORT as JSON."""
    print(f'\nCUDA check {check}: ' + ', '.join(f'{k} {v}' for k, v in values.items()))
    path = os.environ.get('SEGNET_GPU_REPORT')
    if path:
        with open(path, 'a') as f:
            f.write(json.dumps({'check': check, **values}) + '\n')


@pytest.fixture(scope='module')
def frames():
    """Return the 360x480 RGB frames of the bundled sample bag."""
    pytest.importorskip('rosbags')
    from segnet_ros.bags.bagio import read_frames as load_frames
    return load_frames(share_path('data', 'camvid_val_sample'), '/camera/image_raw')


@pytest.fixture(scope='module')
def segnet_file(tmp_path_factory):
    """Write the paper's full SegNet (random weights, 11 classes, 360x480) as a model file."""
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('segnet') / 'segnet.safetensors')
    modelfile.save_model_file(path, build_model('segnet', 11), modelfile.default_info(
        'segnet', 11, input_size=[360, 480]))
    return path


def full_hd(rgb):
    """Return ``rgb`` resized to 1920x1080."""
    return np.asarray(PILImage.fromarray(rgb).resize((1920, 1080), PILImage.BILINEAR))


def test_fp16_masks_agree_with_fp32_on_the_sample_frames(frames):
    model = default_model_path()
    masks = {}
    # The fp32 reference without TF32 convolutions; 'tf32' is fp32 with cuDNN's default.
    for label, precision, tf32 in (('fp32', 'fp32', False), ('tf32', 'fp32', True),
                                   ('fp16', 'fp16', True), ('bf16', 'bf16', True)):
        default_tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = tf32
        try:
            seg = Segmenter(model, device='cuda', precision=precision)
            masks[label] = [seg.segment(f).mask for f in frames]
            seg.close()
        finally:
            torch.backends.cudnn.allow_tf32 = default_tf32
    agree = {p: [float((a == b).mean()) for a, b in zip(masks['fp32'], masks[p])]
             for p in ('tf32', 'fp16', 'bf16')}
    mean = {p: round(float(np.mean(v)), 5) for p, v in agree.items()}
    report('fp16_vs_fp32_masks', frames=len(frames), fp16_agreement=mean['fp16'],
           fp16_worst_frame=round(min(agree['fp16']), 5), bf16_agreement=mean['bf16'],
           tf32_agreement=mean['tf32'])
    assert mean['fp16'] >= 0.99, agree['fp16']


class _HostCopies(torch.overrides.TorchFunctionMode):
    """Count torch calls that bring data of a CUDA tensor to the host."""

    READBACKS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__,
                 torch.Tensor.__int__, torch.Tensor.__float__}

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        src = [a for a in args if isinstance(a, torch.Tensor) and a.is_cuda]
        if src and (func in self.READBACKS or (
                isinstance(result, torch.Tensor) and result.device.type == 'cpu')):
            self.calls.append(getattr(func, '__name__', str(func)))
        return result


@pytest.mark.parametrize('size', ['360x480', '1080x1920'])
def test_all_outputs_come_back_in_one_device_to_host_copy(frames, size):
    from torch.profiler import profile
    from torch.profiler import ProfilerActivity
    rgb = frames[0] if size == '360x480' else full_hd(frames[0])
    seg = Segmenter(default_model_path(), device='cuda')
    seg.warmup(3)
    seg.segment(rgb, ALL_OUTPUTS)
    torch.cuda.synchronize()
    with _HostCopies() as mode:
        res = seg.segment(rgb, ALL_OUTPUTS)
    with _HostCopies() as mask_mode:
        seg.segment(rgb, ('mask',))
    try:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            seg.segment(rgb, ALL_OUTPUTS)
            torch.cuda.synchronize()
        names = [e.name for e in prof.events()]
    except RuntimeError as e:  # no CUPTI: the count of torch calls above still holds
        names = [f'profiler failed: {e}']
    d2h = [n for n in names if 'Memcpy DtoH' in n]
    h2d = [n for n in names if 'Memcpy HtoD' in n]
    seg.close()
    h, w = rgb.shape[:2]
    assert res.mask.shape == (h, w) and res.mask.dtype == np.uint8
    assert res.color.shape == res.overlay.shape == (h, w, 3)
    assert res.confidence.shape == (h, w) and res.confidence.dtype == np.float32
    assert 0 < res.confidence.min() and res.confidence.max() <= 1 + 1e-5
    report(f'device_to_host_copies_{size}', torch_calls_all_outputs=mode.calls,
           torch_calls_mask_only=mask_mode.calls, profiler_memcpy_dtoh=len(d2h),
           profiler_memcpy_htod=len(h2d))
    assert mode.calls == ['cpu'] and mask_mode.calls == ['cpu'], (mode.calls, mask_mode.calls)
    if h2d:  # the profiler records copies (CUPTI works): the upload and one copy back
        assert len(d2h) == 1, d2h


def _fill_gpu(headroom):
    """Allocate nearly all free GPU memory; give back ``headroom`` bytes; return the blocks."""
    blocks, size = [], 1 << 30
    while size >= MIB:
        try:
            blocks.append(torch.empty(size, dtype=torch.uint8, device='cuda'))
        except torch.cuda.OutOfMemoryError:
            size //= 2
    freed = 0
    while blocks and freed < headroom:
        freed += blocks.pop().numel()
    return blocks


def test_a_real_out_of_memory_error_drops_the_frame_and_the_next_one_works(
        frames, segnet_file):
    seg = Segmenter(segnet_file, device='cuda')
    frame = frames[0]
    before = seg.segment(frame).mask
    blocks = _fill_gpu(headroom=8 * MIB)
    free_now = torch.cuda.mem_get_info()[0] + torch.cuda.memory_reserved() - \
        torch.cuda.memory_allocated()
    caught = None
    try:
        seg.segment(frame)
    except Exception as e:  # noqa: B902 - the node catches every exception, then classifies
        caught = (type(e).__name__, str(e).splitlines()[0][:160], is_out_of_memory(e))
    finally:
        blocks.clear()
        # What the node does after an out-of-memory error (outside the except block).
        free_cached_memory(seg.device)
    after = seg.segment(frame).mask
    agreement = float((after == before).mean())
    seg.close()
    report('real_out_of_memory', filled_to_free_mib=round(free_now / MIB, 1),
           error=caught and caught[0], classified_out_of_memory=caught and caught[2],
           message=caught and caught[1], next_frame_agreement=round(agreement, 5))
    assert caught is not None, 'segmenting with the GPU full did not fail'
    assert caught[2], f'{caught[0]} is not classified as out of memory: {caught[1]}'
    assert agreement >= 0.999


def test_closing_a_segmenter_releases_its_gpu_memory(segnet_file):
    gc.collect()
    torch.cuda.empty_cache()
    base, base_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    old = Segmenter(segnet_file, device='cuda')
    old.warmup()
    with_old = torch.cuda.memory_allocated()
    new = Segmenter(default_model_path(), device='cuda')  # a swap: load the new one first
    new.warmup()
    with_both = torch.cuda.memory_allocated()
    old.close()
    with_new = torch.cuda.memory_allocated()
    new.close()
    gc.collect()
    end, end_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    report('model_swap_memory', old_model_mib=round((with_old - base) / MIB, 1),
           new_model_mib=round((with_both - with_old) / MIB, 1),
           after_closing_old_mib=round((with_new - base) / MIB, 1),
           after_closing_both_mib=round((end - base) / MIB, 2),
           reserved_after_mib=round((end_reserved - base_reserved) / MIB, 1))
    assert with_old - base > 50 * MIB  # the fp16 weights alone are 56 MiB
    assert abs((with_new - base) - (with_both - with_old)) < MIB
    assert end - base < MIB
    assert end_reserved - base_reserved < 64 * MIB


@pytest.mark.ros
@pytest.mark.skipif(bool(NO_ROS), reason=NO_ROS or 'rclpy present')
def test_node_on_cuda_at_1080p_over_dds(driver, start, frames):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    node = start({'model_path': default_model_path(), 'device': 'cuda'})
    outs = ('class_mask', 'color_mask', 'overlay', 'confidence')
    for o in outs:
        driver.record(node.topic(o))
    driver.record_diagnostics()
    pub = driver.publisher(Image, node.image_topic)
    driver.wait_connected(pub, node, [node.topic(o) for o in outs], timeout=90)
    rgb = [full_hd(f) for f in frames[:4]]

    def msg(i):
        return conversions.numpy_to_imgmsg(rgb[i % len(rgb)], 'rgb8', Image, header=Header(
            stamp=Time(sec=1000 + i, nanosec=0), frame_id='cam'))

    assert driver.publish_until(pub, msg(0), lambda: all(
        driver.received[node.topic(o)] for o in outs), timeout=60), node.output()
    got = {o: driver.received[node.topic(o)][0][1] for o in outs}
    for o, m in got.items():
        assert (m.height, m.width) == (1080, 1920), o
    seg = Segmenter(default_model_path(), device='cuda')
    expected = seg.segment(rgb[0]).mask
    seg.close()
    mask = conversions.imgmsg_to_numpy(got['class_mask'])
    agreement = float((mask == expected).mean())
    # Frames one at a time: publish, wait for every output of that frame.
    latency = []
    for i in range(1, 21):
        m = msg(i)
        t0 = time.monotonic()
        pub.publish(m)

        def arrived():
            return all(any(r.header.stamp.sec == 1000 + i for _, r in
                           driver.received[node.topic(o)]) for o in outs)
        assert driver.wait_for(arrived, timeout=10), f'frame {i} got no outputs'
        with driver.cond:
            t1 = max(t for o in outs for t, r in driver.received[node.topic(o)]
                     if r.header.stamp.sec == 1000 + i)
        latency.append(1000 * (t1 - t0))
    driver.wait_for(lambda: int((driver.latest_diagnostics(node.name) or {}).get(
        'frames_processed', 0)) >= 21, timeout=5)
    diag = driver.latest_diagnostics(node.name) or {}
    report('node_cuda_1080p_dds', mask_agreement_with_segmenter=round(agreement, 5),
           all_outputs_latency_ms_p50=round(float(np.median(latency)), 1),
           latency_ms_max=round(max(latency), 1), device=diag.get('device'),
           precision=diag.get('precision'), node_inference_ms_p50=diag.get('inference_ms_p50'),
           out_of_memory_errors=diag.get('out_of_memory_errors'))
    assert agreement >= 0.99
    assert diag.get('device', '').startswith('cuda')
    assert diag.get('out_of_memory_errors') == '0' and diag.get('inference_errors') == '0'
