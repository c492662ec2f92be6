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

"""Tests for segnet_ros.conversions, with stand-in messages and, if present, sensor_msgs."""

import array
import dataclasses
import functools
import io
import pathlib
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
import zlib

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
from PIL import Image as PILImage
from PIL import ImageFile
import pytest

from segnet_ros import conversions
from segnet_ros.conversions import compressed_to_rgb8
from segnet_ros.conversions import ConversionError
from segnet_ros.conversions import ENCODINGS
from segnet_ros.conversions import imgmsg_to_numpy
from segnet_ros.conversions import numpy_to_compressed
from segnet_ros.conversions import numpy_to_imgmsg
from segnet_ros.conversions import scale_16_to_8
from segnet_ros.conversions import to_rgb8


@dataclasses.dataclass
class FakeImage:
    """Stand-in for sensor_msgs/Image."""

    header: object = None
    height: int = 0
    width: int = 0
    encoding: str = ''
    is_bigendian: int = 0
    step: int = 0
    data: object = b''


@dataclasses.dataclass
class FakeCompressedImage:
    """Stand-in for sensor_msgs/CompressedImage."""

    header: object = None
    format: str = ''  # noqa: A003  (the CompressedImage field name)
    data: object = b''


def _ros_factories():
    try:
        from sensor_msgs.msg import CompressedImage
        from sensor_msgs.msg import Image
        Image()
        CompressedImage()
    except Exception:  # noqa: B902 - any failure just means no ROS messages here
        return None, None
    return Image, CompressedImage


RosImage, RosCompressedImage = _ros_factories()
_NO_ROS = pytest.mark.skipif(RosImage is None, reason='sensor_msgs.msg not importable')
IMAGE_FACTORIES = [
    pytest.param(FakeImage, id='fake'),
    pytest.param(RosImage, id='ros', marks=_NO_ROS),
]
COMPRESSED_FACTORIES = [
    pytest.param(FakeCompressedImage, id='fake'),
    pytest.param(RosCompressedImage, id='ros', marks=_NO_ROS),
]

YUV = ('yuv422', 'uyvy', 'yuyv', 'yuv422_yuy2')
BAYER_PATTERNS = {
    'bayer_rggb8': 'RGGB', 'bayer_bggr8': 'BGGR', 'bayer_gbrg8': 'GBRG', 'bayer_grbg8': 'GRBG',
    'bayer_rggb16': 'RGGB', 'bayer_bggr16': 'BGGR', 'bayer_gbrg16': 'GBRG',
    'bayer_grbg16': 'GRBG',
}
REQUIRED = (
    'rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', '8UC1', '8UC2', '8UC3', '8UC4',
    '16UC1', '16UC3', '32FC1', 'yuv422', 'uyvy', 'yuyv', 'yuv422_yuy2', 'bayer_rggb8',
    'bayer_bggr8', 'bayer_gbrg8', 'bayer_grbg8')
# (height, width); 4:2:2 YUV needs an even width.
SIZES = ((1, 1), (3, 5), (360, 480))
YUV_SIZES = ((1, 2), (3, 6), (360, 480))
LITTLE = sys.byteorder == 'little'


def _random_image(encoding, height, width, seed=0):
    rng = np.random.default_rng(seed)
    dtype, channels = ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    if dtype == np.float32:
        return rng.standard_normal(shape).astype(np.float32)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True, dtype=dtype)


def _same(a, b):
    """Bit-exact equality (NaN-safe for floats)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _bpp(encoding):
    dtype, channels = ENCODINGS[encoding]
    return dtype.itemsize * channels


# ---------------------------------------------------------------------------------------
# Image round trips


def test_module_imports_without_ros():
    code = ('import sys; import segnet_ros.conversions; '
            'sys.exit(any(m.split(".")[0] in ("rclpy", "sensor_msgs", "cv_bridge", "cv2") '
            'for m in sys.modules))')
    root = pathlib.Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, '-c', code], cwd=root, timeout=60).returncode == 0


def test_required_encodings_present():
    assert set(REQUIRED) <= set(ENCODINGS)


@pytest.mark.parametrize('factory', IMAGE_FACTORIES)
@pytest.mark.parametrize('size_index', range(len(SIZES)))
@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_round_trip(factory, encoding, size_index):
    height, width = (YUV_SIZES if encoding in YUV else SIZES)[size_index]
    image = _random_image(encoding, height, width, seed=size_index)
    msg = numpy_to_imgmsg(image, encoding, factory)
    assert (msg.height, msg.width, msg.encoding) == (height, width, encoding)
    assert msg.step == width * _bpp(encoding)
    assert msg.is_bigendian == (0 if LITTLE else 1)
    assert len(msg.data) == msg.step * height
    out = imgmsg_to_numpy(msg)
    assert _same(out, image)


@pytest.mark.parametrize('factory', IMAGE_FACTORIES)
@pytest.mark.parametrize('pad', [1, 3, 64])
@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_round_trip_padded_step(factory, encoding, pad):
    height, width = (3, 6) if encoding in YUV else (3, 5)
    image = _random_image(encoding, height, width, seed=pad)
    row = width * _bpp(encoding)
    msg = numpy_to_imgmsg(image, encoding, factory, step=row + pad)
    assert msg.step == row + pad
    raw = np.frombuffer(bytes(msg.data), np.uint8).reshape(height, row + pad)
    assert not raw[:, row:].any()
    assert _same(imgmsg_to_numpy(msg), image)


def test_padded_rows_written_by_hand():
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    data = image[0].tobytes() + b'\xff\xfe' + image[1].tobytes() + b'\xfd\xfc' + b'trailing'
    msg = FakeImage(height=2, width=2, encoding='rgb8', step=8, data=data)
    assert _same(imgmsg_to_numpy(msg), image)


def test_zero_copy_view_of_data():
    image = _random_image('mono16', 4, 5)
    data = bytearray(image.astype('<u2').tobytes())
    msg = FakeImage(height=4, width=5, encoding='mono16', step=10, data=data)
    out = imgmsg_to_numpy(msg)
    assert np.shares_memory(out, np.frombuffer(data, np.uint8))
    padded = numpy_to_imgmsg(_random_image('rgb8', 4, 5), 'rgb8', FakeImage, step=17)
    assert np.shares_memory(imgmsg_to_numpy(padded), np.frombuffer(padded.data, np.uint8))


@pytest.mark.parametrize('kind', [
    'bytes', 'bytearray', 'array', 'memoryview', 'list', 'ndarray', 'ndarray_int64',
    'array_u16', 'strided_memoryview'])
def test_data_container_types(kind):
    image = _random_image('bgr8', 3, 4, seed=7)
    raw = image.tobytes()
    data = {
        'bytes': lambda: raw,
        'bytearray': lambda: bytearray(raw),
        'array': lambda: array.array('B', raw),
        'memoryview': lambda: memoryview(raw),
        'list': lambda: list(raw),
        'ndarray': lambda: np.frombuffer(raw, np.uint8).copy(),
        'ndarray_int64': lambda: np.frombuffer(raw, np.uint8).astype(np.int64),
        'array_u16': lambda: array.array('H', raw),
        'strided_memoryview': lambda: memoryview(bytes(b for c in raw for b in (c, 0)))[::2],
    }[kind]()
    msg = FakeImage(height=3, width=4, encoding='bgr8', step=12, data=data)
    assert _same(imgmsg_to_numpy(msg), image)


@pytest.mark.parametrize('encoding,be_dtype', [
    ('mono16', '>u2'), ('16UC1', '>u2'), ('16UC3', '>u2'), ('rgb16', '>u2'),
    ('bayer_rggb16', '>u2'), ('32FC1', '>f4')])
@pytest.mark.parametrize('pad', [0, 1])
def test_big_endian_messages(encoding, be_dtype, pad):
    height, width = 3, 5
    image = _random_image(encoding, height, width, seed=11)
    row = image.astype(be_dtype).reshape(height, -1).view(np.uint8)
    data = np.concatenate([row, np.full((height, pad), 0xAB, np.uint8)], axis=1).tobytes()
    msg = FakeImage(height=height, width=width, encoding=encoding, is_bigendian=1,
                    step=row.shape[1] + pad, data=data)
    out = imgmsg_to_numpy(msg)
    assert out.dtype.isnative
    assert _same(out, image)


def test_big_endian_known_value():
    msg = FakeImage(height=1, width=2, encoding='mono16', is_bigendian=1, step=4,
                    data=b'\x01\x02\xff\x00')
    assert imgmsg_to_numpy(msg).tolist() == [[0x0102, 0xff00]]
    msg.is_bigendian = 0
    assert imgmsg_to_numpy(msg).tolist() == [[0x0201, 0x00ff]]


@pytest.mark.parametrize('factory', IMAGE_FACTORIES)
def test_header_is_set(factory):
    header = factory().header
    if factory is FakeImage:
        header = object()
    else:
        header.frame_id = 'camera'
    msg = numpy_to_imgmsg(np.zeros((2, 2), np.uint8), 'mono8', factory, header=header)
    assert msg.header == header
    assert numpy_to_imgmsg(np.zeros((2, 2), np.uint8), 'mono8', FakeImage).header is None


def test_single_channel_accepts_trailing_axis():
    image = _random_image('mono8', 3, 4)
    msg = numpy_to_imgmsg(image[:, :, None], 'mono8', FakeImage)
    assert _same(imgmsg_to_numpy(msg), image)


def test_non_contiguous_and_swapped_input_arrays():
    image = _random_image('rgb8', 6, 8)
    msg = numpy_to_imgmsg(image[::2, ::2], 'rgb8', FakeImage)
    assert _same(imgmsg_to_numpy(msg), image[::2, ::2])
    deep = _random_image('16UC1', 3, 4)
    msg = numpy_to_imgmsg(deep.astype('>u2'), '16UC1', FakeImage)
    assert _same(imgmsg_to_numpy(msg), deep)


@settings(max_examples=60, deadline=None)
@given(encoding=st.sampled_from(sorted(ENCODINGS)), height=st.integers(1, 9),
       width=st.integers(1, 9), pad=st.integers(0, 9), seed=st.integers(0, 2 ** 16))
def test_round_trip_property(encoding, height, width, pad, seed):
    if encoding in YUV:
        width *= 2
    image = _random_image(encoding, height, width, seed)
    msg = numpy_to_imgmsg(image, encoding, FakeImage, step=width * _bpp(encoding) + pad)
    msg.data = bytes(msg.data) + b'\x00' * (seed % 3)  # trailing bytes are allowed
    assert _same(imgmsg_to_numpy(msg), image)


# ---------------------------------------------------------------------------------------
# to_rgb8


def _msg(image, encoding):
    return numpy_to_imgmsg(image, encoding, FakeImage)


@pytest.mark.parametrize('encoding', sorted(set(ENCODINGS) - {'8UC2'}))
def test_to_rgb8_shape_and_dtype(encoding):
    image = _random_image(encoding, 4, 6)
    for source in (_msg(image, encoding), image):
        out = to_rgb8(source, encoding=encoding)
        assert out.shape == (4, 6, 3)
        assert out.dtype == np.uint8


def test_to_rgb8_colour_orders():
    rgb = _random_image('rgb8', 5, 7)
    alpha = _random_image('mono8', 5, 7)[:, :, None]
    assert _same(to_rgb8(_msg(rgb, 'rgb8')), rgb)
    assert _same(to_rgb8(_msg(rgb[:, :, ::-1], 'bgr8')), rgb)
    assert _same(to_rgb8(_msg(np.concatenate([rgb, alpha], 2), 'rgba8')), rgb)
    assert _same(to_rgb8(_msg(np.concatenate([rgb[:, :, ::-1], alpha], 2), 'bgra8')), rgb)
    assert _same(to_rgb8(_msg(rgb, '8UC3')), rgb)
    assert _same(to_rgb8(_msg(np.concatenate([rgb, alpha], 2), '8UC4')), rgb)
    assert _same(to_rgb8(rgb[:, :, ::-1], encoding='bgr8'), rgb)


def test_to_rgb8_mono_and_16_bit():
    mono = _random_image('mono8', 5, 7)
    for encoding in ('mono8', '8UC1'):
        assert _same(to_rgb8(_msg(mono, encoding)), np.repeat(mono[:, :, None], 3, 2))
    # x * 255 / 65535, rounded (cv_bridge's convertTo): 32767 -> 127, 32768 -> 128.
    deep = np.array([[0, 255, 256, 0x1234], [0x7fff, 0x8000, 0xfeff, 0xffff]], np.uint16)
    expect = np.repeat(np.array([[0, 1, 1, 18], [127, 128, 254, 255]], np.uint8)[:, :, None],
                       3, 2)
    for encoding in ('mono16', '16UC1'):
        assert _same(to_rgb8(_msg(deep, encoding)), expect)
    rgb16 = _random_image('rgb16', 3, 4)
    scaled = scale_16_to_8(rgb16)
    assert _same(to_rgb8(_msg(rgb16, 'rgb16')), scaled)
    assert _same(to_rgb8(_msg(rgb16[:, :, ::-1], 'bgr16')), scaled)
    assert _same(to_rgb8(_msg(rgb16, '16UC3')), scaled)


@pytest.mark.parametrize('opencv', [True, False])
def test_16_to_8_bit_is_opencvs_convert_to_on_every_value(opencv, monkeypatch):
    cv2 = pytest.importorskip('cv2')
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    # The oracle: OpenCV's own saturating, rounding scale (another entry point than ours).
    oracle = cv2.addWeighted(every, 255.0 / 65535.0, every, 0.0, 0.0, dtype=cv2.CV_8U)
    if not opencv:
        monkeypatch.setattr(conversions, '_CV2', None)
    assert _same(scale_16_to_8(every), oracle)
    assert int((oracle != (every >> 8)).sum()) == 16256  # what a plain shift got wrong


def test_to_rgb8_float():
    depth = np.array([[-1.0, 0.0, 0.5, 1.0, 7.0, np.nan, np.inf, -np.inf]], np.float32)
    out = to_rgb8(_msg(depth, '32FC1'))
    assert out[0, :, 0].tolist() == [0, 0, 128, 255, 255, 0, 255, 0]
    assert (out == out[:, :, :1]).all()


def _bt601_ycbcr(rgb):
    """Independent reference: BT.601 studio-range R'G'B' -> Y'CbCr."""
    r, g, b = (float(c) for c in rgb)
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return [int(round(v)) for v in (y, cb, cr)]


def _pack_422(pixels, order):
    """Pack rows of (Y, U, V) pixels into 4:2:2 bytes; a pair uses its first pixel's U/V."""
    out = bytearray()
    for row in pixels:
        for (y0, u, v), (y1, _, _) in zip(row[0::2], row[1::2]):
            values = {'U': u, 'V': v}
            ys = iter((y0, y1))
            out += bytes(next(ys) if c == 'Y' else values[c] for c in order)
    return bytes(out)


COLOURS = {
    'red': (255, 0, 0), 'green': (0, 255, 0), 'blue': (0, 0, 255), 'grey': (128, 128, 128),
    'white': (255, 255, 255), 'black': (0, 0, 0), 'orange': (250, 140, 20),
}


@pytest.mark.parametrize('colour', sorted(COLOURS))
@pytest.mark.parametrize('encoding,order', [
    ('yuv422', 'UYVY'), ('uyvy', 'UYVY'), ('yuyv', 'YUYV'), ('yuv422_yuy2', 'YUYV')])
def test_to_rgb8_yuv_known_colours(encoding, order, colour):
    rgb = COLOURS[colour]
    height, width = 3, 4
    pixels = [[_bt601_ycbcr(rgb)] * width for _ in range(height)]
    msg = FakeImage(height=height, width=width, encoding=encoding, step=width * 2,
                    data=_pack_422(pixels, order))
    out = to_rgb8(msg).astype(int)
    assert np.abs(out - np.array(rgb)).max() <= 3


def test_to_rgb8_yuv_luma_per_pixel_chroma_per_pair():
    pixels = [[_bt601_ycbcr((0, 0, 0)), _bt601_ycbcr((255, 255, 255)),
               _bt601_ycbcr((255, 0, 0)), _bt601_ycbcr((255, 0, 0))]]
    pixels[0][1] = [235, 128, 128]
    out = to_rgb8(FakeImage(height=1, width=4, encoding='uyvy', step=8,
                            data=_pack_422(pixels, 'UYVY'))).astype(int)
    assert np.abs(out[0, 0] - (0, 0, 0)).max() <= 3
    assert np.abs(out[0, 1] - (255, 255, 255)).max() <= 3
    assert np.abs(out[0, 2:] - (255, 0, 0)).max() <= 3


def _mosaic(rgb_image, pattern):
    height, width = rgb_image.shape[:2]
    raw = np.empty((height, width), rgb_image.dtype)
    for i, colour in enumerate(pattern):
        ch = 'RGB'.index(colour)
        raw[i // 2::2, i % 2::2] = rgb_image[i // 2::2, i % 2::2, ch]
    return raw


@pytest.mark.parametrize('shape', [(2, 2), (5, 7), (6, 8), (3, 2)])
@pytest.mark.parametrize('encoding', sorted(BAYER_PATTERNS))
def test_to_rgb8_bayer_constant_colour(encoding, shape):
    colour = np.array([200, 90, 30], np.uint8)
    image = np.broadcast_to(colour, shape + (3,))
    if encoding.endswith('16'):
        image = image.astype(np.uint16) * 257
    raw = _mosaic(image, BAYER_PATTERNS[encoding])
    out = to_rgb8(_msg(raw, encoding))
    assert _same(out, np.ascontiguousarray(np.broadcast_to(colour, shape + (3,))))


@pytest.mark.parametrize('opencv', [True, False])
@pytest.mark.parametrize('encoding', ['bayer_rggb8', 'bayer_gbrg8'])
def test_to_rgb8_bayer_keeps_samples_and_interpolates(encoding, opencv, monkeypatch):
    if not opencv:  # the numpy fallback, for installs without OpenCV
        monkeypatch.setattr(conversions, '_CV2', None)
    pattern = BAYER_PATTERNS[encoding]
    # A smooth linear ramp: bilinear interpolation reproduces it away from the border.
    yy, xx = np.mgrid[0:8, 0:10]
    image = np.stack([10 + 4 * xx, 20 + 3 * yy, 30 + 2 * xx + 2 * yy], axis=2).astype(np.uint8)
    raw = _mosaic(image, pattern)
    out = to_rgb8(_msg(raw, encoding))
    # OpenCV (so cv_bridge) interpolates the outermost row and column too.
    inner = (slice(1, -1), slice(1, -1)) if opencv else (slice(None), slice(None))
    for i, colour in enumerate(pattern):
        ch = 'RGB'.index(colour)
        assert _same(out[i // 2::2, i % 2::2, ch][inner], raw[i // 2::2, i % 2::2][inner])
    assert np.abs(out[1:-1, 1:-1].astype(int) - image[1:-1, 1:-1]).max() <= 1


# cv_bridge's conversion codes (cv_bridge.cpp, getConversionCode), to RGB.
CV_BRIDGE_CODES = {'bayer_rggb8': 'COLOR_BayerBG2RGB', 'bayer_bggr8': 'COLOR_BayerRG2RGB',
                   'bayer_gbrg8': 'COLOR_BayerGR2RGB', 'bayer_grbg8': 'COLOR_BayerGB2RGB',
                   'yuv422': 'COLOR_YUV2RGB_UYVY', 'uyvy': 'COLOR_YUV2RGB_UYVY',
                   'yuyv': 'COLOR_YUV2RGB_YUYV', 'yuv422_yuy2': 'COLOR_YUV2RGB_YUY2'}


@pytest.mark.parametrize('encoding', sorted(CV_BRIDGE_CODES))
def test_bayer_and_yuv_are_bit_exact_with_cv_bridge(encoding):
    cv2 = pytest.importorskip('cv2')
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, (48, 64) if encoding.startswith('bayer') else (48, 64, 2),
                       dtype=np.uint8)
    expected = cv2.cvtColor(raw, getattr(cv2, CV_BRIDGE_CODES[encoding]))
    assert _same(to_rgb8(_msg(raw, encoding)), expected)
    assert _same(to_rgb8(raw, encoding), expected)


@pytest.mark.parametrize('encoding,shape', [('bgr8', (1080, 1920, 3)), ('bgra8', (5, 7, 4))])
def test_bgr_becomes_contiguous_rgb(encoding, shape):
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, shape, dtype=np.uint8)
    out = to_rgb8(_msg(raw, encoding))
    assert _same(out, raw[:, :, 2::-1])


# ---------------------------------------------------------------------------------------
# Rejected Image input


def _raises(func, *args, **kwargs):
    with pytest.raises(ConversionError) as info:
        func(*args, **kwargs)
    return str(info.value)


class UntouchableData(FakeImage):
    """An Image whose data must not be read: validation has to fail first."""

    @property
    def data(self):
        raise AssertionError('data was touched before validation failed')

    @data.setter
    def data(self, value):
        pass


def test_error_is_value_error():
    assert issubclass(ConversionError, ValueError)


def test_reject_unknown_encoding():
    text = _raises(imgmsg_to_numpy, UntouchableData(height=3, width=5, encoding='bgr9', step=15))
    assert "'bgr9'" in text and '5x3' in text and 'rgb8' in text


@pytest.mark.parametrize('height,width', [(0, 5), (3, 0), (0, 0), (-1, 5)])
def test_reject_zero_size(height, width):
    text = _raises(imgmsg_to_numpy, UntouchableData(height=height, width=width,
                                                    encoding='rgb8', step=15))
    assert 'rgb8' in text and f'{width}x{height}' in text and 'positive' in text


def test_reject_non_integer_size():
    text = _raises(imgmsg_to_numpy, UntouchableData(height='3', width=5, encoding='rgb8'))
    assert 'rgb8' in text and 'height' in text


def test_reject_step_too_small():
    text = _raises(imgmsg_to_numpy, UntouchableData(height=3, width=5, encoding='rgb8', step=14))
    assert 'rgb8 image 5x3' in text and 'step 14' in text and '15' in text


def test_reject_data_too_short():
    msg = FakeImage(height=480, width=640, encoding='rgb8', step=1920, data=b'\0' * 1000)
    assert _raises(imgmsg_to_numpy, msg) == (
        'rgb8 image 640x480: data has 1000 bytes, expected at least 921600 '
        '(step 1920 x height 480)')
    msg = FakeImage(height=3, width=5, encoding='mono16', step=11, data=b'\0' * 32)
    text = _raises(imgmsg_to_numpy, msg)
    assert 'mono16 image 5x3' in text and '32 bytes' in text and '33' in text


def test_reject_absurd_size_fast_without_allocating():
    msg = FakeImage(height=100000, width=100000, encoding='rgb8', step=300000, data=b'0' * 10)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        text = _raises(imgmsg_to_numpy, msg)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.1
    assert peak < 1 << 20
    assert '100000x100000' in text and '10 bytes' in text and '30000000000' in text


def test_reject_absurd_step():
    msg = FakeImage(height=2, width=2, encoding='mono8', step=2 ** 62, data=b'0' * 10)
    text = _raises(imgmsg_to_numpy, msg)
    assert 'mono8 image 2x2' in text and str(2 ** 63) in text


def test_reject_max_pixels_before_touching_data():
    msg = UntouchableData(height=480, width=640, encoding='rgb8', step=1920)
    text = _raises(imgmsg_to_numpy, msg, max_pixels=640 * 480 - 1)
    assert 'rgb8 image 640x480' in text and '307200' in text and '307199' in text
    _raises(to_rgb8, msg, max_pixels=1000)
    _raises(to_rgb8, np.zeros((480, 640, 3), np.uint8), encoding='rgb8', max_pixels=1000)
    ok = numpy_to_imgmsg(np.zeros((480, 640, 3), np.uint8), 'rgb8', FakeImage)
    assert imgmsg_to_numpy(ok, max_pixels=640 * 480).shape == (480, 640, 3)


@pytest.mark.parametrize('encoding', YUV)
def test_reject_odd_width_yuv(encoding):
    msg = UntouchableData(height=4, width=5, encoding=encoding, step=10)
    text = _raises(imgmsg_to_numpy, msg)
    assert f'{encoding} image 5x4' in text and 'even' in text
    text = _raises(numpy_to_imgmsg, np.zeros((4, 5, 2), np.uint8), encoding, FakeImage)
    assert f'{encoding} image 5x4' in text and 'even' in text


@pytest.mark.parametrize('data', [np.zeros(29, np.int64), list(range(29)),
                                  array.array('H', [0] * 14)])
def test_reject_short_data_of_any_container(data):
    text = _raises(imgmsg_to_numpy, FakeImage(height=2, width=5, encoding='rgb8', step=15,
                                              data=data))
    assert 'rgb8 image 5x2: data has' in text and 'expected at least 30' in text


@pytest.mark.parametrize('data', ['a string', [0, 256, 3], [1.5], object(),
                                  np.zeros(30, np.float32), np.full(30, -1)])
def test_reject_bad_data_containers(data):
    text = _raises(imgmsg_to_numpy, FakeImage(height=2, width=5, encoding='rgb8', step=15,
                                              data=data))
    assert 'rgb8 image 5x2' in text


@pytest.mark.parametrize('array_,encoding,expected', [
    (np.zeros((3, 5, 3)), 'rgb8', '3 channel(s) of uint8'),
    (np.zeros((3, 5, 4), np.uint8), 'rgb8', '3 channel(s) of uint8'),
    (np.zeros((3, 5, 3), np.uint8), 'mono8', '1 channel(s) of uint8'),
    (np.zeros((3, 5), np.uint8), 'mono16', '1 channel(s) of uint16'),
    (np.zeros((3, 5), np.int16), 'mono16', '1 channel(s) of uint16'),
    (np.zeros((3, 5), np.float64), '32FC1', '1 channel(s) of float32'),
    (np.zeros((3, 6), np.uint8), 'yuv422', '2 channel(s) of uint8'),
])
def test_reject_wrong_array_for_encoding(array_, encoding, expected):
    text = _raises(numpy_to_imgmsg, array_, encoding, FakeImage)
    assert f'{encoding} image 5x3' in text or f'{encoding} image 6x3' in text
    assert expected in text and str(array_.dtype) in text


def test_reject_bad_arrays_and_steps():
    assert 'shape (5,)' in _raises(numpy_to_imgmsg, np.zeros(5, np.uint8), 'mono8', FakeImage)
    assert "'nope'" in _raises(numpy_to_imgmsg, np.zeros((2, 2), np.uint8), 'nope', FakeImage)
    text = _raises(numpy_to_imgmsg, np.zeros((0, 4, 3), np.uint8), 'rgb8', FakeImage)
    assert 'rgb8 image 4x0' in text
    text = _raises(numpy_to_imgmsg, np.zeros((2, 4, 3), np.uint8), 'rgb8', FakeImage, step=11)
    assert 'rgb8 image 4x2' in text and 'step 11' in text and '12' in text


def test_reject_to_rgb8_misuse():
    assert 'encoding is required' in _raises(to_rgb8, np.zeros((2, 2, 3), np.uint8))
    msg = _msg(np.zeros((2, 2, 3), np.uint8), 'rgb8')
    assert "'bgr8'" in _raises(to_rgb8, msg, encoding='bgr8')
    assert '8UC2 image 3x2' in _raises(to_rgb8, _msg(np.zeros((2, 3, 2), np.uint8), '8UC2'))


@pytest.mark.parametrize('shape', [(1, 4), (4, 1), (1, 1)])
def test_reject_tiny_bayer(shape):
    text = _raises(to_rgb8, _msg(np.zeros(shape, np.uint8), 'bayer_rggb8'))
    assert f'bayer_rggb8 image {shape[1]}x{shape[0]}' in text and '2x2' in text


# ---------------------------------------------------------------------------------------
# CompressedImage


def _smooth_rgb(height=48, width=64):
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // (width - 1), yy * 255 // (height - 1),
                     (xx + yy) * 255 // (width + height - 2)], axis=2).astype(np.uint8)


def _encoded(image, fmt, **kwargs):
    buf = io.BytesIO()
    PILImage.fromarray(image).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def test_truncated_images_stay_refused():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize('factory', COMPRESSED_FACTORIES)
@pytest.mark.parametrize('fmt,stored', [
    ('png', 'rgb8; png compressed bgr8'), ('PNG', 'rgb8; png compressed bgr8'),
    ('bgr8; png compressed', 'bgr8; png compressed')])
def test_png_round_trip_exact(factory, fmt, stored):
    image = _random_image('rgb8', 37, 53)
    msg = numpy_to_compressed(image, fmt, factory)
    assert msg.format == stored
    assert _same(compressed_to_rgb8(msg), image)


@pytest.mark.parametrize('factory', COMPRESSED_FACTORIES)
@pytest.mark.parametrize('fmt,stored', [
    ('jpeg', 'rgb8; jpeg compressed bgr8'), ('jpg', 'rgb8; jpeg compressed bgr8'),
    ('rgb8; jpeg compressed bgr8', 'rgb8; jpeg compressed bgr8')])
def test_jpeg_round_trip_close(factory, fmt, stored):
    image = _smooth_rgb()
    msg = numpy_to_compressed(image, fmt, factory, quality=95)
    assert msg.format == stored
    out = compressed_to_rgb8(msg)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() < 2.0


@pytest.mark.parametrize('factory', COMPRESSED_FACTORIES)
def test_compressed_header_and_quality(factory):
    header = factory().header
    image = _random_image('rgb8', 32, 32)
    small = numpy_to_compressed(image, 'jpeg', factory, header=header, quality=10)
    large = numpy_to_compressed(image, 'jpeg', factory, header=header, quality=100)
    assert small.header == header
    assert len(small.data) < len(large.data)


@pytest.mark.parametrize('fmt', ['jpeg', 'png', '', 'rgb8; jpeg compressed bgr8', 'bmp'])
def test_decode_ignores_format_string(fmt):
    image = _random_image('rgb8', 9, 11)
    msg = FakeCompressedImage(format=fmt, data=_encoded(image, 'PNG'))
    assert _same(compressed_to_rgb8(msg), image)


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'P', 'LA', 'I;16'])
def test_decode_other_png_modes(mode):
    base = _random_image('rgb8', 6, 7)
    if mode == 'I;16':
        deep = _random_image('mono16', 6, 7)
        img = PILImage.frombytes('I;16', (7, 6), deep.astype('<u2').tobytes())
        expect = np.repeat((deep >> 8).astype(np.uint8)[:, :, None], 3, 2)
    else:
        img = PILImage.fromarray(base).convert(mode)
        expect = np.asarray(img.convert('RGB'))
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    out = compressed_to_rgb8(FakeCompressedImage(format='png', data=buf.getvalue()))
    assert _same(out, expect)


@pytest.mark.parametrize('kind', ['bytes', 'bytearray', 'array', 'memoryview', 'list',
                                  'ndarray'])
def test_compressed_data_container_types(kind):
    image = _random_image('rgb8', 5, 6)
    raw = _encoded(image, 'PNG')
    data = {'bytes': raw, 'bytearray': bytearray(raw), 'array': array.array('B', raw),
            'memoryview': memoryview(raw), 'list': list(raw),
            'ndarray': np.frombuffer(raw, np.uint8)}[kind]
    assert _same(compressed_to_rgb8(FakeCompressedImage(format='png', data=data)), image)


def _png_chunk(kind, payload):
    return (struct.pack('>I', len(payload)) + kind + payload
            + struct.pack('>I', zlib.crc32(kind + payload)))


@functools.lru_cache(maxsize=None)
def _bomb_png(side):
    """Return a few-kB 1-bit PNG that claims, and really holds, side x side pixels."""
    ihdr = struct.pack('>IIBBBBB', side, side, 1, 0, 0, 0, 0)
    rows = bytes(1 + (side + 7) // 8) * 500
    comp = zlib.compressobj(9)
    idat = b''.join(comp.compress(rows) for _ in range(side // 500)) + comp.flush()
    return (b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', ihdr) + _png_chunk(b'IDAT', idat)
            + _png_chunk(b'IEND', b''))


def _refuse_bomb(data, **kwargs):
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Between 1x and 2x PIL's MAX_IMAGE_PIXELS, PIL only warns at open time.
        warnings.simplefilter('ignore', PILImage.DecompressionBombWarning)
        text = _raises(compressed_to_rgb8, FakeCompressedImage(format='png', data=data),
                       **kwargs)
    assert time.perf_counter() - start < 0.5
    return text


def test_reject_decompression_bomb_with_max_pixels():
    bomb = _bomb_png(12000)
    assert len(bomb) < 100_000
    text = _refuse_bomb(bomb, max_pixels=10_000_000)
    assert 'PNG image 12000x12000' in text and '144000000' in text
    assert 'max_pixels 10000000' in text


def test_reject_decompression_bomb_by_default():
    text = _refuse_bomb(_bomb_png(12000))
    assert 'PNG image 12000x12000' in text
    assert f'MAX_IMAGE_PIXELS {PILImage.MAX_IMAGE_PIXELS}' in text
    # Beyond 2x the limit PIL itself refuses at open time.
    text = _refuse_bomb(_bomb_png(20000), max_pixels=10 ** 12)
    assert "'png'" in text and 'DecompressionBombError' in text and '400000000' in text


def test_decompression_bomb_warning_as_error_is_converted():
    with warnings.catch_warnings():
        warnings.simplefilter('error', PILImage.DecompressionBombWarning)
        # Our own limit would refuse it first; above it, Pillow's warning is the guard.
        text = _raises(compressed_to_rgb8,
                       FakeCompressedImage(format='png', data=_bomb_png(12000)),
                       max_pixels=10 ** 12)
    assert "'png'" in text and 'DecompressionBombWarning' in text


def _with_chunks(png, *chunks):
    """Insert chunks right after the IHDR of ``png``."""
    return png[:33] + b''.join(_png_chunk(kind, body) for kind, body in chunks) + png[33:]


def _ztxt(size, fill=b'\x00'):
    return b'comment\x00\x00' + zlib.compress(fill * size, 9)


def test_png_text_within_the_limits_decodes():
    image = _random_image('rgb8', 6, 5)
    data = _with_chunks(_encoded(image, 'PNG'),
                        (b'zTXt', _ztxt(conversions.PNG_TEXT_CHUNK_LIMIT)),
                        (b'tEXt', b'Software\x00camera'),
                        (b'iTXt', b'XML:com.adobe.xmp\x00\x00\x00\x00\x00<x/>'))
    assert _same(compressed_to_rgb8(FakeCompressedImage(format='png', data=data)), image)


@pytest.mark.parametrize('kind, body', [
    (b'zTXt', _ztxt(conversions.PNG_TEXT_CHUNK_LIMIT + 1)),
    (b'iTXt', b'k\x00\x01\x00en\x00k\x00' + zlib.compress(b'a' * (1 << 20), 9)),
    (b'iCCP', b'icc\x00\x00' + zlib.compress(b'\x00' * (1 << 20), 9)),
])
def test_png_chunk_inflating_beyond_the_limit_is_refused(kind, body):
    msg = FakeCompressedImage(
        format='png', data=_with_chunks(_encoded(_random_image('rgb8', 6, 5), 'PNG'),
                                        (kind, body)))
    conversions.check_compressed(msg)  # the callback's cheap check does not inflate
    with pytest.raises(ConversionError) as info:
        compressed_to_rgb8(msg)
    assert info.value.reason == 'decode'
    text = str(info.value)
    assert 'PNG image 5x6' in text and f'a {kind.decode()} chunk inflates to more than' in text


def test_png_text_flood_is_refused_quickly_and_without_memory():
    # 63 kB on the wire, 60 MB of text once inflated.
    data = _with_chunks(_encoded(_random_image('rgb8', 8, 8), 'PNG'),
                        *[(b'zTXt', _ztxt(1 << 20))] * 60)
    assert len(data) < 100_000
    start = time.perf_counter()
    tracemalloc.start()
    try:
        text = _raises(compressed_to_rgb8, FakeCompressedImage(format='png', data=data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 'zTXt chunk inflates' in text
    assert peak < 4 << 20 and time.perf_counter() - start < 0.2
    # Chunks below the limit each count towards the limit on all text.
    data = _with_chunks(_encoded(_random_image('rgb8', 8, 8), 'PNG'),
                        *[(b'zTXt', _ztxt(200 << 10, b'a'))] * 6)
    text = _raises(compressed_to_rgb8, FakeCompressedImage(format='png', data=data))
    assert f'text chunks inflate to more than {conversions.PNG_TEXT_LIMIT} bytes' in text


_NO_SIDE_EFFECTS = """
import io
import warnings
import numpy as np
from PIL import Image, PngImagePlugin
def state():
    return PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY, list(warnings.filters)
before = state()
from segnet_ros import conversions
assert state() == before, 'importing changed process-wide state'
buf = io.BytesIO()
Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buf, format='PNG')
class Msg:
    format = 'png'
    data = buf.getvalue()
conversions.compressed_to_rgb8(Msg())
assert state() == before, 'decoding changed process-wide state'
"""


def test_import_and_decoding_leave_pillow_limits_and_warning_filters_alone():
    root = pathlib.Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, '-c', _NO_SIDE_EFFECTS], cwd=root, timeout=60,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_reject_max_pixels_on_ordinary_image():
    msg = FakeCompressedImage(format='jpeg', data=_encoded(_smooth_rgb(), 'JPEG'))
    text = _raises(compressed_to_rgb8, msg, max_pixels=1000)
    assert 'JPEG image 64x48' in text and '3072' in text and '1000' in text
    assert compressed_to_rgb8(msg, max_pixels=64 * 48).shape == (48, 64, 3)


def test_reject_corrupt_jpeg():
    rng = np.random.default_rng(3)
    garbage = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    text = _raises(compressed_to_rgb8, FakeCompressedImage(format='jpeg', data=garbage))
    assert "'jpeg'" in text and '2000 bytes' in text and 'neither a JPEG nor a PNG' in text
    header_only = _encoded(_smooth_rgb(), 'JPEG')[:300]
    text = _raises(compressed_to_rgb8, FakeCompressedImage(format='jpeg', data=header_only))
    assert "'jpeg'" in text and '300 bytes' in text


def test_reject_truncated_jpeg():
    full = _encoded(_random_image('rgb8', 64, 64), 'JPEG')
    cut = full[:len(full) // 2]
    text = _raises(compressed_to_rgb8, FakeCompressedImage(format='jpeg', data=cut))
    assert 'JPEG image 64x64' in text and f'{len(cut)} bytes' in text


def test_reject_truncated_png():
    full = _encoded(_random_image('rgb8', 64, 64), 'PNG')
    cut = full[:len(full) // 2]
    text = _raises(compressed_to_rgb8, FakeCompressedImage(format='png', data=cut))
    assert 'PNG image 64x64' in text and f'{len(cut)} bytes' in text


@pytest.mark.parametrize('data', [b'', b'\x89PNG\r\n\x1a\n', b'GIF89a' + bytes(100)])
def test_reject_empty_or_unsupported_compressed(data):
    text = _raises(compressed_to_rgb8, FakeCompressedImage(format='png', data=data))
    assert "'png'" in text and f'{len(data)} bytes' in text


def test_reject_compressed_depth():
    msg = FakeCompressedImage(format='16UC1; compressedDepth png', data=b'\0' * 20)
    assert 'compressedDepth' in _raises(compressed_to_rgb8, msg)


def test_reject_bad_compressed_encoding_requests():
    image = _random_image('rgb8', 4, 4)
    assert "'bmp'" in _raises(numpy_to_compressed, image, 'bmp', FakeCompressedImage)
    text = _raises(numpy_to_compressed, image[:, :, 0], 'png', FakeCompressedImage)
    assert 'PNG' in text and '(4, 4)' in text
    text = _raises(numpy_to_compressed, image.astype(np.uint16), 'jpeg', FakeCompressedImage)
    assert 'uint16' in text
    text = _raises(numpy_to_compressed, image, 'jpeg', FakeCompressedImage, quality=0)
    assert 'quality 0' in text and '4x4' in text
