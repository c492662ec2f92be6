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
Conversions between sensor_msgs Image / CompressedImage and numpy arrays.

Semantics follow cv_bridge, but nothing here imports ROS: messages are duck-typed
(an Image is anything with ``height, width, encoding, is_bigendian, step, data``, a
CompressedImage anything with ``format, data``) and the array -> message direction takes a
``msg_factory`` such as ``sensor_msgs.msg.Image``. Every failure raises ConversionError.
Sizes in messages are written as WIDTHxHEIGHT, as in ROS.
"""

import io
import operator
import struct
import sys
import zlib

import numpy as np
from PIL import Image as PILImage

_U8 = np.dtype(np.uint8)
_U16 = np.dtype(np.uint16)
_F32 = np.dtype(np.float32)

ENCODINGS = {
    'rgb8': (_U8, 3),
    'bgr8': (_U8, 3),
    'rgba8': (_U8, 4),
    'bgra8': (_U8, 4),
    'rgb16': (_U16, 3),
    'bgr16': (_U16, 3),
    'rgba16': (_U16, 4),
    'bgra16': (_U16, 4),
    'mono8': (_U8, 1),
    'mono16': (_U16, 1),
    '8UC1': (_U8, 1),
    '8UC2': (_U8, 2),
    '8UC3': (_U8, 3),
    '8UC4': (_U8, 4),
    '16UC1': (_U16, 1),
    '16UC3': (_U16, 3),
    '32FC1': (_F32, 1),
    # Packed 4:2:2, two bytes per pixel. ROS's "yuv422" is UYVY byte order.
    'yuv422': (_U8, 2),
    'uyvy': (_U8, 2),
    'yuyv': (_U8, 2),
    'yuv422_yuy2': (_U8, 2),
    'bayer_rggb8': (_U8, 1),
    'bayer_bggr8': (_U8, 1),
    'bayer_gbrg8': (_U8, 1),
    'bayer_grbg8': (_U8, 1),
    'bayer_rggb16': (_U16, 1),
    'bayer_bggr16': (_U16, 1),
    'bayer_gbrg16': (_U16, 1),
    'bayer_grbg16': (_U16, 1),
}
"""Supported Image encodings -> (numpy dtype, channels) of imgmsg_to_numpy's result."""

_UYVY = frozenset({'yuv422', 'uyvy'})
_YUYV = frozenset({'yuyv', 'yuv422_yuy2'})
_YUV = _UYVY | _YUYV
# Colour of the top-left 2x2 CFA cell, row-major.
_BAYER = {
    'bayer_rggb8': 'RGGB', 'bayer_bggr8': 'BGGR', 'bayer_gbrg8': 'GBRG', 'bayer_grbg8': 'GRBG',
    'bayer_rggb16': 'RGGB', 'bayer_bggr16': 'BGGR', 'bayer_gbrg16': 'GBRG',
    'bayer_grbg16': 'GRBG',
}

_JPEG_QUALITY_RANGE = (1, 100)


class ConversionError(ValueError):
    """
    Raised for every failed image conversion; the message names encoding and sizes.

    ``reason`` is a short category the node counts and rate-limits its log lines by:
    encoding, size, too_large, step, data, decode (or invalid for the encoders).
    """

    def __init__(self, message, reason='invalid'):
        super().__init__(message)
        self.reason = reason


def _desc(encoding, width, height):
    return f'{encoding} image {width}x{height}'


def _as_size(value, name, encoding):
    try:
        return operator.index(value)
    except TypeError:
        raise ConversionError(
            f'{encoding} image: {name} must be an integer, got {type(value).__name__}',
            reason='size') from None


def _byte_length(data, what):
    """Length of data in bytes, without converting or copying it."""
    if isinstance(data, np.ndarray):
        # Integer arrays hold one byte value per element (see _as_uint8).
        return data.size if data.dtype.kind in 'uib' else data.nbytes
    if isinstance(data, (list, tuple)):
        return len(data)
    if isinstance(data, str):
        raise ConversionError(f'{what}: data is a str, expected bytes-like or a list of ints',
                              reason='data')
    try:
        return memoryview(data).nbytes
    except TypeError:
        raise ConversionError(
            f'{what}: data of type {type(data).__name__} is not bytes-like',
            reason='data') from None


def _as_uint8(data, what):
    """Flat uint8 array over data, sharing its memory whenever the buffer allows it."""
    if isinstance(data, np.ndarray):
        if data.dtype.itemsize == 1 and data.dtype.kind in 'uib':
            return data.reshape(-1).view(_U8)
        if data.dtype.kind in 'ui':
            if data.size and (data.min() < 0 or data.max() > 255):
                raise ConversionError(f'{what}: data array has values outside 0..255',
                                      reason='data')
            return data.reshape(-1).astype(_U8)
        raise ConversionError(f'{what}: data array has dtype {data.dtype}, expected uint8',
                              reason='data')
    if isinstance(data, (list, tuple)):
        try:
            return np.array(data, dtype=_U8).reshape(-1)
        except (OverflowError, ValueError, TypeError) as exc:
            raise ConversionError(f'{what}: data list is not a list of bytes ({exc})',
                                  reason='data') from None
    view = memoryview(data)
    if view.c_contiguous:
        return np.frombuffer(view.cast('B') if view.format != 'B' or view.ndim != 1 else view,
                             dtype=_U8)
    return np.frombuffer(view.tobytes(), dtype=_U8)


def _layout(encoding, width, height):
    """Look up an encoding: (dtype, channels, bytes per pixel); checks sizes it implies."""
    try:
        dtype, channels = ENCODINGS[encoding]
    except (KeyError, TypeError):
        raise ConversionError(
            f'unsupported encoding {encoding!r} for image {width}x{height}; supported: '
            f'{", ".join(sorted(ENCODINGS))}', reason='encoding') from None
    if width <= 0 or height <= 0:
        raise ConversionError(
            f'{_desc(encoding, width, height)}: width and height must be positive', reason='size')
    if encoding in _YUV and width % 2:
        raise ConversionError(
            f'{_desc(encoding, width, height)}: width must be even for 4:2:2 YUV '
            f'(two pixels share one U/V pair)', reason='size')
    return dtype, channels, dtype.itemsize * channels


def _check_pixels(what, width, height, limit, name='max_pixels'):
    if limit is not None and width * height > limit:
        raise ConversionError(f'{what}: {width * height} pixels exceeds {name} {limit}',
                              reason='too_large')


def _validate(msg, max_pixels):
    """Check an Image message's header against its data length, without reading the data."""
    encoding = msg.encoding
    height = _as_size(msg.height, 'height', encoding)
    width = _as_size(msg.width, 'width', encoding)
    step = _as_size(msg.step, 'step', encoding)
    dtype, channels, bpp = _layout(encoding, width, height)
    _check_pixels(_desc(encoding, width, height), width, height, max_pixels)
    desc = _desc(encoding, width, height)
    row_bytes = width * bpp
    if step < row_bytes:
        raise ConversionError(
            f'{desc}: step {step} is smaller than width {width} x {bpp} bytes per pixel '
            f'= {row_bytes}', reason='step')
    needed = step * height
    nbytes = _byte_length(msg.data, desc)
    if nbytes < needed:
        raise ConversionError(
            f'{desc}: data has {nbytes} bytes, expected at least {needed} '
            f'(step {step} x height {height})', reason='data')
    return encoding, width, height, step, dtype, channels, needed


def check_image(msg, max_pixels=None):
    """
    Raise ConversionError if an Image message cannot be converted; cheap enough for a callback.

    Checks encoding (including those without an RGB meaning), sizes, ``max_pixels``, step
    and data length without reading a pixel: every frame it passes, to_rgb8 converts.
    """
    encoding, width, height = _validate(msg, max_pixels)[:3]
    desc = _desc(encoding, width, height)
    if encoding == '8UC2':
        raise ConversionError(f'{desc}: 2-channel images have no RGB interpretation',
                              reason='encoding')
    if encoding in _BAYER and (height < 2 or width < 2):
        raise ConversionError(f'{desc}: Bayer demosaicing needs at least 2x2 pixels',
                              reason='size')


def imgmsg_to_numpy(msg, max_pixels=None):
    """
    Return an Image message's pixels as an array in the message's own layout.

    The result is H x W x C (C > 1) or H x W (C == 1) with the dtype from ENCODINGS, in native
    byte order. Row padding (``step``) is honoured and, where the data is a contiguous buffer
    in native byte order, the result is a (possibly read-only) view of ``msg.data``: copy it
    before modifying. YUV 4:2:2 comes back as the raw H x W x 2 bytes and Bayer as the raw
    mosaic; use to_rgb8 for colour. All sizes are validated before data is touched, and
    ``max_pixels`` bounds width * height. Extra trailing data is ignored.
    """
    encoding, width, height, step, dtype, channels, needed = _validate(msg, max_pixels)
    desc = _desc(encoding, width, height)
    row_bytes = width * dtype.itemsize * channels
    buf = _as_uint8(msg.data, desc)
    rows = buf[:needed].reshape(height, step)[:, :row_bytes]
    if dtype.itemsize > 1:
        src = dtype.newbyteorder('>' if msg.is_bigendian else '<')
        # Viewing the contiguous last axis works even when step is not a multiple of the
        # item size (numpy handles unaligned views).
        rows = rows.view(src)
        if not src.isnative:
            rows = rows.astype(dtype)
    if channels == 1:
        return rows
    return rows.reshape(height, width, channels)


def _check_array(array, encoding):
    """Validate an array against an encoding; return it as H x W (x C) in native order."""
    array = np.asarray(array)
    if array.ndim not in (2, 3):
        raise ConversionError(
            f'{encoding}: expected an H x W or H x W x C array, got shape {array.shape}')
    height, width = array.shape[:2]
    dtype, channels, _ = _layout(encoding, width, height)
    have = 1 if array.ndim == 2 else array.shape[2]
    if have != channels or array.dtype.kind != dtype.kind \
            or array.dtype.itemsize != dtype.itemsize:
        raise ConversionError(
            f'{_desc(encoding, width, height)}: array has shape {array.shape} and dtype '
            f'{array.dtype}, expected {channels} channel(s) of {dtype}')
    if not array.dtype.isnative:
        array = array.astype(dtype)
    if channels == 1 and array.ndim == 3:
        array = array[:, :, 0]
    return array


def _fill_header(msg, header):
    if header is not None:
        msg.header = header


def numpy_to_imgmsg(array, encoding, msg_factory, header=None, step=None):
    """
    Build an Image message from an array whose dtype and channels match ``encoding``.

    ``msg_factory`` creates the message (e.g. ``sensor_msgs.msg.Image``); ``header`` is set
    when given. Data is written in host byte order; ``step`` defaults to the packed row size
    and, if larger, rows are zero-padded to it.
    """
    array = _check_array(array, encoding)
    height, width = array.shape[:2]
    row_bytes = width * array.dtype.itemsize * (1 if array.ndim == 2 else array.shape[2])
    if step is None:
        step = row_bytes
    else:
        step = _as_size(step, 'step', encoding)
        if step < row_bytes:
            raise ConversionError(
                f'{_desc(encoding, width, height)}: step {step} is smaller than the '
                f'row size {row_bytes}')
    if step == row_bytes:
        data = array.tobytes()
    else:
        padded = np.zeros((height, step), dtype=_U8)
        padded[:, :row_bytes] = np.ascontiguousarray(array).view(_U8).reshape(height, -1)
        data = padded.tobytes()
    msg = msg_factory()
    _fill_header(msg, header)
    msg.height = height
    msg.width = width
    msg.encoding = encoding
    msg.is_bigendian = 1 if sys.byteorder == 'big' else 0
    msg.step = step
    msg.data = data
    return msg


def _yuv422_to_rgb8(raw, uyvy):
    """BT.601 limited range (Y 16..235, as OpenCV / cv_bridge); chroma repeated per pair."""
    if uyvy:
        y, c = raw[:, :, 1], raw[:, :, 0]
    else:
        y, c = raw[:, :, 0], raw[:, :, 1]
    yf = (y.astype(np.float32) - 16.0) * np.float32(255.0 / 219.0)
    u = np.repeat(c[:, 0::2].astype(np.float32) - 128.0, 2, axis=1)
    v = np.repeat(c[:, 1::2].astype(np.float32) - 128.0, 2, axis=1)
    rgb = np.empty(y.shape + (3,), dtype=np.float32)
    rgb[:, :, 0] = yf + np.float32(1.596027) * v
    rgb[:, :, 1] = yf - np.float32(0.391762) * u - np.float32(0.812968) * v
    rgb[:, :, 2] = yf + np.float32(2.017232) * u
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _sum3x3(padded, kernel):
    """Correlate a padded (H+2) x (W+2) array with a 3x3 kernel, returning H x W."""
    h, w = padded.shape[0] - 2, padded.shape[1] - 2
    out = np.zeros((h, w), dtype=np.float32)
    for dy in range(3):
        for dx in range(3):
            k = kernel[dy][dx]
            if k:
                out += k * padded[dy:dy + h, dx:dx + w]
    return out


_KERNEL_RB = ((1, 2, 1), (2, 4, 2), (1, 2, 1))
_KERNEL_G = ((0, 1, 0), (1, 4, 1), (0, 1, 0))


def _demosaic(raw, pattern, encoding):
    """Bilinear demosaic by masked 3x3 convolution; known samples are kept exactly."""
    height, width = raw.shape
    if height < 2 or width < 2:
        raise ConversionError(
            f'{_desc(encoding, width, height)}: Bayer demosaicing needs at least 2x2 pixels',
            reason='size')
    # 'reflect' mirrors without repeating the edge, so padded pixels keep the CFA parity.
    pad = np.pad(raw.astype(np.float32), 1, mode='reflect')
    ph, pw = pad.shape
    rgb = np.empty((height, width, 3), dtype=np.float32)
    for ch, name in enumerate('RGB'):
        mask = np.zeros((ph, pw), dtype=np.float32)
        for i, colour in enumerate(pattern):
            if colour == name:
                # Padded index p maps to original index p - 1, hence the shifted start.
                mask[(i // 2 + 1) % 2::2, (i % 2 + 1) % 2::2] = 1.0
        kernel = _KERNEL_G if name == 'G' else _KERNEL_RB
        # For every CFA position the kernel weights landing on this colour's samples sum to
        # 4 (reflect padding keeps that true at the border), so no per-pixel normaliser.
        rgb[:, :, ch] = _sum3x3(pad * mask, kernel) * np.float32(0.25)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def to_rgb8(msg_or_array, encoding=None, max_pixels=None):
    """
    Convert an Image message, or an array with its encoding, to H x W x 3 RGB uint8.

    BGR is swapped and alpha dropped; mono and single-channel images are replicated to grey;
    16-bit values are scaled by 255/65535 and rounded, as cv_bridge does (OpenCV's
    ``convertTo``), after the colour conversion; 32FC1 is clipped to [0, 1] and scaled to 255
    (NaN -> 0); generic 8UC3/8UC4/16UC3 are taken as already RGB(A); YUV 4:2:2 is decoded
    with BT.601 limited range; Bayer is bilinearly demosaiced (needs at least 2x2). 8UC2 has
    no colour meaning and is refused. Where cv_bridge refuses instead (8UCn, 16UCn and 32FC1
    to rgb8), these are documented choices (README). ``encoding`` is required for arrays and,
    for messages, must match ``msg.encoding`` if given. The result may be a read-only view of
    the input.
    """
    if isinstance(msg_or_array, np.ndarray):
        if encoding is None:
            raise ConversionError(
                f'array of shape {msg_or_array.shape}: an encoding is required', reason='encoding')
        arr = _check_array(msg_or_array, encoding)
        height, width = arr.shape[:2]
        _check_pixels(_desc(encoding, width, height), width, height, max_pixels)
    else:
        if encoding is not None and encoding != msg_or_array.encoding:
            raise ConversionError(
                f'{_desc(msg_or_array.encoding, msg_or_array.width, msg_or_array.height)}: '
                f'encoding argument {encoding!r} does not match the message', reason='encoding')
        encoding = msg_or_array.encoding
        arr = imgmsg_to_numpy(msg_or_array, max_pixels=max_pixels)

    cv2 = _opencv()
    if encoding in _YUV:
        if cv2 is not None:  # the call cv_bridge makes, so the same pixels
            return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_YUV2RGB_UYVY
                                if encoding in _UYVY else cv2.COLOR_YUV2RGB_YUY2)
        return _yuv422_to_rgb8(arr, encoding in _UYVY)
    if encoding in _BAYER:
        if cv2 is not None and min(arr.shape) >= 3:  # OpenCV leaves 2-pixel sides black
            # cv_bridge demosaics at the source depth, then scales to 8 bits.
            return scale_16_to_8(cv2.cvtColor(np.ascontiguousarray(arr),
                                              getattr(cv2, _CV_BAYER[_BAYER[encoding]])))
        return _demosaic(scale_16_to_8(arr), _BAYER[encoding], encoding)
    if encoding == '8UC2':
        raise ConversionError(
            f'{_desc(encoding, arr.shape[1], arr.shape[0])}: 2-channel images have no RGB '
            f'interpretation', reason='encoding')
    if encoding == '32FC1':
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
        arr = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(_U8)
    elif arr.dtype == _U16:
        arr = scale_16_to_8(arr)
    if arr.ndim == 2:
        return np.repeat(arr[:, :, np.newaxis], 3, axis=2)
    if encoding.startswith('bgr'):
        if cv2 is not None and arr.dtype == _U8:
            # A contiguous copy in 0.25 ms at 1080p; numpy's reversed view costs 6.7 ms to
            # copy later (torch and OpenCV need contiguous pixels).
            return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if arr.shape[2] == 4
                                else cv2.COLOR_BGR2RGB)
        return arr[:, :, 2::-1]
    return arr[:, :, :3]


def scale_16_to_8(arr):
    """
    Return uint16 ``arr`` as uint8 scaled by 255/65535 and rounded (uint8 passes through).

    cv_bridge's 16-to-8-bit step, ``convertTo(CV_8U, 255.0 / 65535.0)``; a plain ``>> 8``
    is one level lower on 16,256 of the 65,536 values. x * 255 / 65535 is x / 257, whose
    fraction is never one half, so the integer form rounds exactly as OpenCV does.
    """
    if arr.dtype != _U16:
        return arr
    cv2 = _opencv()
    if cv2 is not None:
        return cv2.convertScaleAbs(arr, alpha=255.0 / 65535.0)  # non-negative: |x| is x
    return ((arr.astype(np.uint32) + 128) // 257).astype(_U8)


def _opencv():
    """Return cv2 when it is installed (it is a dependency; numpy code is the fallback)."""
    global _CV2
    if _CV2 is False:
        try:
            import cv2
        except ImportError:
            cv2 = None
        _CV2 = cv2
    return _CV2


_CV2 = False
# OpenCV names a Bayer pattern by the 2x2 block starting at the second row and column
# (cv_bridge maps ROS's encodings the same way).
_CV_BAYER = {'RGGB': 'COLOR_BayerBG2RGB', 'BGGR': 'COLOR_BayerRG2RGB',
             'GBRG': 'COLOR_BayerGR2RGB', 'GRBG': 'COLOR_BayerGB2RGB'}


def _codec(fmt):
    """Map a CompressedImage format string to a Pillow format name, or None if unknown."""
    fmt = (fmt or '').lower()
    if 'compresseddepth' in fmt:
        return 'compressedDepth'
    if 'jpeg' in fmt or 'jpg' in fmt:
        return 'JPEG'
    if 'png' in fmt:
        return 'PNG'
    return None


def check_compressed(msg, max_pixels=None):
    """
    Raise ConversionError if a CompressedImage is not a JPEG/PNG within ``max_pixels``.

    Reads the size from the PNG IHDR chunk or the JPEG frame header by hand, without Pillow
    (which would inflate PNG text chunks on open), so it is cheap enough for a callback;
    corrupt pixel data still surfaces in compressed_to_rgb8.
    """
    _check_compressed_header(*_compressed_payload(msg), max_pixels)


def _check_compressed_header(fmt, data, max_pixels):
    codec, width, height = _compressed_size(data, fmt)
    what = f'{codec} image {width}x{height} (format {fmt!r})'
    if width <= 0 or height <= 0:
        raise ConversionError(f'{what}: width and height must be positive', reason='size')
    _check_compressed_pixels(what, width, height, max_pixels)


def _compressed_payload(msg):
    fmt = getattr(msg, 'format', '')
    if not isinstance(fmt, str):
        raise ConversionError(f'compressed image: format must be a string, got '
                              f'{type(fmt).__name__}', reason='encoding')
    what = f'compressed image (format {fmt!r})'
    if _codec(fmt) == 'compressedDepth':
        raise ConversionError(f'{what}: compressedDepth images are not supported',
                              reason='encoding')
    _byte_length(msg.data, what)  # type check only: the whole payload is needed anyway
    data = msg.data
    if not isinstance(data, (bytes, bytearray)):
        data = _as_uint8(data, what).tobytes()
    return fmt, data


def _check_compressed_pixels(what, width, height, max_pixels):
    if max_pixels is not None:
        _check_pixels(what, width, height, max_pixels)
    else:
        _check_pixels(what, width, height, PILImage.MAX_IMAGE_PIXELS, 'PIL MAX_IMAGE_PIXELS')


_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
# Camera frames carry no text worth keeping. Pillow's default budget for inflating PNG text
# chunks (64 MB, PngImagePlugin.MAX_TEXT_MEMORY) lets a 63 kB frame cost 60 MB and 0.2 s
# before a pixel is read, so PNGs whose text inflates beyond these are refused before
# Pillow opens them. Pillow's own limits are process-wide and left as they are.
PNG_TEXT_CHUNK_LIMIT = 256 << 10  # bytes one text chunk or ICC profile may inflate to
PNG_TEXT_LIMIT = 1 << 20          # bytes of text in one PNG
# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC share the range but are not frames).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _compressed_size(data, fmt):
    """Return (codec, width, height) from a PNG or JPEG header; ConversionError otherwise."""
    what = f'compressed image (format {fmt!r}), {len(data)} bytes'
    if data[:8] == _PNG_MAGIC:
        if len(data) < 24 or data[12:16] != b'IHDR':
            raise ConversionError(f'{what}: PNG without an IHDR header', reason='decode')
        return 'PNG', int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
    if data[:2] != b'\xff\xd8':
        raise ConversionError(f'{what}: neither a JPEG nor a PNG image', reason='decode')
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        length = int.from_bytes(data[pos + 2:pos + 4], 'big')
        if marker in _SOF:
            seg = data[pos + 4:pos + 2 + length]
            if length >= 8 and len(seg) == length - 2 and seg[0] in (8, 12, 16) and \
                    seg[5] in (1, 2, 3, 4) and length == 8 + 3 * seg[5]:
                return ('JPEG', int.from_bytes(seg[3:5], 'big'),
                        int.from_bytes(seg[1:3], 'big'))
            break
        if length < 2:
            break
        pos += 2 + length
    raise ConversionError(f'{what}: JPEG without a valid frame header', reason='decode')


def compressed_to_rgb8(msg, max_pixels=None):
    """
    Decode a JPEG or PNG CompressedImage to H x W x 3 RGB uint8.

    The codec is sniffed from the data, whatever ``msg.format`` claims (only JPEG and PNG
    are accepted). The header size is checked against ``max_pixels`` (or, when None,
    Pillow's MAX_IMAGE_PIXELS) before any pixel is decoded. Corrupt or truncated data
    raises ConversionError. 16-bit greyscale PNGs are scaled by >> 8, as
    OpenCV's imdecode (so cv_bridge) reduces them.
    """
    fmt, data = _compressed_payload(msg)
    _check_compressed_header(fmt, data, max_pixels)
    return _decode(fmt, data, max_pixels)


def _png_text_size(kind, body):
    """
    Return the text bytes a PNG text or iCCP chunk holds, inflating at most one chunk limit.

    Returns PNG_TEXT_CHUNK_LIMIT + 1 when a compressed chunk inflates beyond the limit, and
    0 for what Pillow would skip (an unknown compression method, a corrupt zlib stream).
    """
    if kind == b'tEXt':
        return len(body)
    key, sep, rest = body.partition(b'\0')
    if not sep:
        return 0
    if kind == b'iTXt':
        if len(rest) < 2 or rest[0] == 0:
            return len(rest)  # uncompressed international text
        if rest[1] != 0:
            return 0
        parts = rest[2:].split(b'\0', 2)
        if len(parts) < 3:
            return 0
        stream = parts[2]
    else:  # zTXt, iCCP: compression method, then the zlib stream
        if not rest or rest[0] != 0:
            return 0
        stream = rest[1:]
    try:
        return len(zlib.decompressobj().decompress(stream, PNG_TEXT_CHUNK_LIMIT + 1))
    except zlib.error:
        return 0


def _check_png_text(what, data):
    """
    Raise ConversionError when a PNG's text chunks inflate beyond the limits above.

    Walks the chunk list as Pillow does, up to IEND; never inflates more than
    PNG_TEXT_CHUNK_LIMIT + 1 bytes per chunk.
    """
    pos, total = len(_PNG_MAGIC), 0
    view = memoryview(data)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from('>I4s', data, pos)
        if kind == b'IEND':
            return
        if kind in (b'tEXt', b'zTXt', b'iTXt', b'iCCP'):
            size = _png_text_size(kind, bytes(view[pos + 8:pos + 8 + length]))
            if size > PNG_TEXT_CHUNK_LIMIT:
                raise ConversionError(
                    f'{what}: a {kind.decode()} chunk inflates to more than '
                    f'{PNG_TEXT_CHUNK_LIMIT} bytes', reason='decode')
            total += size if kind != b'iCCP' else 0
            if total > PNG_TEXT_LIMIT:
                raise ConversionError(f'{what}: text chunks inflate to more than '
                                      f'{PNG_TEXT_LIMIT} bytes', reason='decode')
        pos += 12 + length


def _decode(fmt, data, max_pixels):
    """Decode with Pillow, which checks the size it reads against ``max_pixels`` again."""
    what = f'compressed image (format {fmt!r})'
    if data[:8] == _PNG_MAGIC:
        _, width, height = _compressed_size(data, fmt)
        _check_png_text(f'PNG image {width}x{height} (format {fmt!r})', data)
    # PIL's DecompressionBombWarning is left to the caller's warning filters (changing the
    # filters here is not thread-safe); our own limit refuses the same images. MemoryError
    # is not caught: running out of memory is not a property of the frame.
    errors = (OSError, SyntaxError, ValueError, TypeError, EOFError, struct.error,
              IndexError, KeyError, OverflowError, ZeroDivisionError)
    try:
        with PILImage.open(io.BytesIO(data), formats=('JPEG', 'PNG')) as img:
            width, height = img.size
            what = f'{img.format} image {width}x{height} (format {fmt!r})'
            if width <= 0 or height <= 0:
                raise ConversionError(f'{what}: width and height must be positive',
                                      reason='size')
            _check_compressed_pixels(what, width, height, max_pixels)
            img.load()
            if img.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
                grey = (np.asarray(img).astype(np.uint32) >> 8).clip(0, 255).astype(_U8)
                return np.repeat(grey[:, :, np.newaxis], 3, axis=2)
            if img.mode != 'RGB':
                img = img.convert('RGB')
            return np.asarray(img)
    except ConversionError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ConversionError(f'{what}: refused before decoding ({type(exc).__name__}: {exc})',
                              reason='too_large') from None
    except PILImage.UnidentifiedImageError:
        raise ConversionError(
            f'{what}: {len(data)} bytes are neither a JPEG nor a PNG image',
            reason='decode') from None
    except errors as exc:
        raise ConversionError(
            f'{what}: cannot decode {len(data)} bytes: {type(exc).__name__}: {exc}',
            reason='decode') from None


MONO8_PNG_FORMAT = 'mono8; png compressed '  # as image_transport's compressed transport
PNG_LEVEL = 3  # image_transport's default png_level: most of the size, little of the time


def mono8_to_png(array, msg_factory, header=None, level=PNG_LEVEL):
    """
    Encode an H x W uint8 array (a class mask, a mono8 confidence) as a lossless PNG.

    The CompressedImage is what image_transport's ``compressed`` transport publishes for a
    mono8 Image: ``format`` "mono8; png compressed ", one grey channel, so any compressed
    subscriber (and ``ros2 bag``) decodes it back to the identical array.
    """
    array = np.asarray(array)
    if array.ndim != 2 or array.dtype != _U8 or min(array.shape) < 1:
        raise ConversionError(f'PNG encoding: array has shape {array.shape} and dtype '
                              f'{array.dtype}, expected H x W uint8 (mono8)')
    cv2 = _opencv()
    if cv2 is not None:
        ok, buf = cv2.imencode('.png', np.ascontiguousarray(array),
                               [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
        if not ok:
            raise ConversionError(f'PNG encoding of {array.shape[1]}x{array.shape[0]} mono8 '
                                  f'image failed')
        data = buf.tobytes()
    else:
        out = io.BytesIO()
        PILImage.fromarray(array, mode='L').save(out, format='PNG', compress_level=int(level))
        data = out.getvalue()
    msg = msg_factory()
    _fill_header(msg, header)
    msg.format = MONO8_PNG_FORMAT
    msg.data = data
    return msg


def unit_to_mono8(arr):
    """Return a float map in 0..1 as uint8 0..255: round(255 * x), half to even, clipped."""
    cv2 = _opencv()
    a = np.fmax(np.asarray(arr, np.float32), np.float32(0))  # NaN -> 0
    if cv2 is not None:  # saturating and rounding as OpenCV does: the same values
        return cv2.convertScaleAbs(a, alpha=255.0)
    return np.minimum(np.rint(a * np.float32(255.0)), 255).astype(_U8)


def numpy_to_compressed(array_rgb8, fmt, msg_factory, header=None, quality=90):
    """
    Encode an H x W x 3 RGB uint8 array as a JPEG or PNG CompressedImage.

    ``fmt`` is 'jpeg' or 'png' (stored as image_transport's "rgb8; jpeg compressed bgr8" /
    "rgb8; png compressed bgr8") or a full image_transport format string, stored as given.
    ``quality`` (1..100) applies to JPEG.
    """
    codec = _codec(fmt)
    if codec not in ('JPEG', 'PNG'):
        raise ConversionError(f'format {fmt!r}: expected a jpeg or png format string')
    array = np.asarray(array_rgb8)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != _U8:
        raise ConversionError(
            f'{codec} encoding (format {fmt!r}): array has shape {array.shape} and dtype '
            f'{array.dtype}, expected H x W x 3 uint8 (rgb8)')
    height, width = array.shape[:2]
    if width <= 0 or height <= 0:
        raise ConversionError(
            f'{codec} encoding of {width}x{height} image: width and height must be positive')
    buf = io.BytesIO()
    img = PILImage.fromarray(np.ascontiguousarray(array))
    if codec == 'JPEG':
        lo, hi = _JPEG_QUALITY_RANGE
        if not lo <= quality <= hi:
            raise ConversionError(
                f'JPEG encoding of {width}x{height} image: quality {quality} not in {lo}..{hi}')
        img.save(buf, format='JPEG', quality=int(quality))
    else:
        img.save(buf, format='PNG')
    msg = msg_factory()
    _fill_header(msg, header)
    if fmt.strip().lower() in ('jpeg', 'jpg', 'png'):
        # image_transport's own convention: the codec stores ordinary colour, which its
        # OpenCV-based decoder reads as bgr8 and then converts to the rgb8 named first.
        fmt = f'rgb8; {codec.lower()} compressed bgr8'
    msg.format = fmt
    msg.data = buf.getvalue()
    return msg
