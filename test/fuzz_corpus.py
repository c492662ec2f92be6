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
A seeded corpus of malformed and hostile Image / CompressedImage messages and their verdicts.

The same corpus feeds the fast unit test (the conversion functions directly) and the fuzz
test against the live node. Every case is valid for the ROS field types (uint32 sizes,
string encodings, byte data), so DDS carries it unchanged: the hostility is in the values.
"""

import dataclasses
import io
import struct
import zlib

import numpy as np
from PIL import Image as PILImage

# Where a rejection is found: 'header' cases fail the node's cheap checks in the
# subscription callback (conversions.check_image / check_compressed); 'content' cases pass
# them and fail only in the full conversion on the worker.
HEADER, CONTENT = 'header', 'content'
VALID = 'valid'


@dataclasses.dataclass
class Case:
    """One message and its verdict: VALID, or the ConversionError reason it must raise."""

    name: str
    compressed: bool
    fields: dict
    expect: str
    stage: str = HEADER

    def build(self, image_type, compressed_type):
        """Instantiate the message with the given message classes."""
        msg = (compressed_type if self.compressed else image_type)()
        for k, v in self.fields.items():
            setattr(msg, k, v)
        return msg


def _png(arr_or_image):
    img = arr_or_image if isinstance(arr_or_image, PILImage.Image) \
        else PILImage.fromarray(arr_or_image)
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def _jpeg(arr):
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format='JPEG', quality=80)
    return buf.getvalue()


def _chunk(kind, body):
    return struct.pack('>I', len(body)) + kind + body + struct.pack(
        '>I', zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width, height):
    """
    Return a PNG whose header claims a width x height grey image, with zero rows as data.

    The zlib stream holds at most 64 MB of rows (about 64 kB compressed): decoding a
    20000 x 20000 claim would allocate 400 MB before finding the data short.
    """
    row = b'\x00' * (width + 1)  # filter byte + grey pixels
    rows = min(height, max(1, (64 << 20) // len(row)))  # bound the work done here
    comp = zlib.compressobj(9)
    body = b''.join(comp.compress(row) for _ in range(rows)) + comp.flush()
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr) + _chunk(b'IDAT', body)
            + _chunk(b'IEND', b''))


def png_with_text(png, chunks=60, size=1 << 20):
    """Insert ``chunks`` zTXt chunks that each inflate to ``size`` bytes after the IHDR."""
    body = b'comment\x00\x00' + zlib.compress(b'\x00' * size, 9)
    return png[:33] + _chunk(b'zTXt', body) * chunks + png[33:]


def jpeg_claiming(data, width, height):
    """Rewrite the frame size in a JPEG's SOF0 header."""
    i = data.index(b'\xff\xc0')
    return data[:i + 5] + struct.pack('>HH', height, width) + data[i + 9:]


def _raw(rng, encoding, h, w, channels, itemsize=1, **extra):
    step = w * channels * itemsize
    fields = {'encoding': encoding, 'height': h, 'width': w, 'step': step,
              'is_bigendian': 0, 'data': rng.integers(0, 256, h * step, np.uint8).tobytes()}
    fields.update(extra)
    return fields


def valid_image(rng, h=48, w=64):
    """Return the fields of a valid rgb8 frame."""
    return _raw(rng, 'rgb8', h, w, 3)


def image_cases(rng):
    """One round of Image cases (the sizes and bytes vary with ``rng``)."""
    h, w = int(rng.integers(1, 80)), int(rng.integers(2, 80)) // 2 * 2
    big = int(rng.integers(4097, 1 << 17))
    c = [
        Case('valid rgb8', False, valid_image(rng, h, w), VALID),
        Case('valid bgr8', False, _raw(rng, 'bgr8', h, w, 3), VALID),
        Case('valid mono8', False, _raw(rng, 'mono8', h, w, 1), VALID),
        Case('valid mono16 big-endian', False, _raw(rng, 'mono16', h, w, 1, 2,
                                                    is_bigendian=1), VALID),
        Case('valid 16UC1 little-endian', False, _raw(rng, '16UC1', h, w, 1, 2), VALID),
        Case('rgb8 with a big-endian flag', False, _raw(rng, 'rgb8', h, w, 3,
                                                        is_bigendian=1), VALID),
        Case('is_bigendian 255', False, _raw(rng, 'bgra8', h, w, 4, is_bigendian=255), VALID),
        Case('valid yuv422', False, _raw(rng, 'yuv422', h, w, 2), VALID),
        Case('valid bayer', False, _raw(rng, 'bayer_rggb8', max(h, 2), max(w, 2), 1), VALID),
        Case('data longer than height*step', False,
             {**valid_image(rng, h, w), 'data': bytes(h * w * 3 + int(rng.integers(1, 5000)))},
             VALID),
        Case('padded step', False, _raw(rng, 'rgb8', h, w, 3, step=w * 3 + 13,
                                        data=bytes(h * (w * 3 + 13))), VALID),
        Case('unknown encoding', False, {**valid_image(rng, h, w), 'encoding': 'rgb9'},
             'encoding'),
        Case('empty encoding', False, {**valid_image(rng, h, w), 'encoding': ''}, 'encoding'),
        Case('upper-case encoding', False, {**valid_image(rng, h, w), 'encoding': 'RGB8'},
             'encoding'),
        Case('long encoding', False, {**valid_image(rng, h, w), 'encoding': 'x' * 5000},
             'encoding'),
        Case('zero width', False, {**valid_image(rng, h, w), 'width': 0}, 'size'),
        Case('zero height', False, {**valid_image(rng, h, w), 'height': 0}, 'size'),
        Case('zero size no data', False, {'encoding': 'rgb8', 'height': 0, 'width': 0,
                                          'step': 0, 'data': b''}, 'size'),
        Case('odd-width yuv', False, _raw(rng, 'yuv422', h, w + 1, 2), 'size'),
        Case('100000x100000 claimed, little data', False,
             {'encoding': 'rgb8', 'height': 100000, 'width': 100000, 'step': 300000,
              'data': bytes(int(rng.integers(0, 4096)))}, 'too_large'),
        Case('max uint32 sizes', False,
             {'encoding': 'mono8', 'height': 0xFFFFFFFF, 'width': 0xFFFFFFFF,
              'step': 0xFFFFFFFF, 'data': b'\x00'}, 'too_large'),
        Case('just above max_pixels', False,
             {'encoding': 'mono8', 'height': big, 'width': 4097, 'step': 4097,
              'data': bytes(100)}, 'too_large'),
        Case('step too small', False, {**valid_image(rng, h, w), 'step': w * 3 - 1}, 'step'),
        Case('step zero', False, {**valid_image(rng, h, w), 'step': 0}, 'step'),
        Case('huge step', False, {**valid_image(rng, h, w), 'step': 0xFFFFFFFF}, 'data'),
        Case('data one byte short', False,
             {**valid_image(rng, h, w), 'data': bytes(h * w * 3 - 1)}, 'data'),
        Case('no data', False, {**valid_image(rng, h, w), 'data': b''}, 'data'),
        Case('16-bit data odd length', False,
             {**_raw(rng, 'mono16', h, w, 1, 2), 'data': bytes(h * w * 2 - 1)}, 'data'),
        Case('2-channel image', False, _raw(rng, '8UC2', h, w, 2), 'encoding'),
        Case('1x1 bayer', False, _raw(rng, 'bayer_bggr8', 1, 1, 1), 'size'),
    ]
    extremes = np.array([np.finfo(np.float32).max, -np.finfo(np.float32).max, np.inf,
                         -np.inf, np.finfo(np.float32).tiny, -0.0, 1e-45, 0.5], np.float32)
    floats = rng.choice(extremes, size=h * w).astype(np.float32)
    c.append(Case('32FC1 extreme values', False,
                  {'encoding': '32FC1', 'height': h, 'width': w, 'step': w * 4,
                   'is_bigendian': 0, 'data': floats.tobytes()}, VALID))
    c.append(Case('16UC1 all 65535', False,
                  {'encoding': '16UC1', 'height': h, 'width': w, 'step': w * 2,
                   'is_bigendian': 0, 'data': b'\xff' * (h * w * 2)}, VALID))
    return c


def compressed_cases(rng, bomb, claim, texty):
    """One round of CompressedImage cases; ``bomb``, ``claim`` (two), ``texty`` precomputed."""
    h, w = int(rng.integers(8, 64)), int(rng.integers(8, 64))
    arr = rng.integers(0, 256, (h, w, 3), np.uint8)
    jpg, png = _jpeg(arr), _png(arr)
    sos = jpg.index(b'\xff\xda')  # cut inside the entropy-coded data, past the headers
    cut = int(rng.integers(sos + 20, len(jpg) - 10))
    garbage = rng.integers(0, 256, int(rng.integers(0, 3000)), np.uint8).tobytes()
    corrupt = bytearray(jpg)
    for i in rng.integers(sos + 20, len(jpg) - 2, 8):
        corrupt[i] ^= 0xFF
    fmt = 'rgb8; jpeg compressed bgr8'
    return [
        Case('valid jpeg', True, {'format': fmt, 'data': jpg}, VALID),
        Case('valid png', True, {'format': 'png', 'data': png}, VALID),
        Case('png named jpeg', True, {'format': 'jpeg', 'data': png}, VALID),
        Case('16-bit grey png', True,
             {'format': 'png', 'data': _png(rng.integers(0, 65535, (h, w), np.uint16))}, VALID),
        Case('palette png', True,
             {'format': 'png', 'data': _png(PILImage.fromarray(arr).convert('P'))}, VALID),
        Case('empty data', True, {'format': fmt, 'data': b''}, 'decode'),
        Case('random bytes', True, {'format': fmt, 'data': garbage}, 'decode'),
        Case('jpeg magic then garbage', True, {'format': fmt,
                                               'data': b'\xff\xd8\xff' + garbage}, 'decode'),
        Case('truncated jpeg', True, {'format': fmt, 'data': jpg[:cut]}, 'decode', CONTENT),
        Case('truncated png', True, {'format': 'png', 'data': png[:len(png) // 2]}, 'decode',
             CONTENT),
        # Flipped bytes in the entropy-coded data may still decode (to noise) or not: either
        # verdict is fine, as long as it is a verdict.
        Case('corrupt jpeg body', True, {'format': fmt, 'data': bytes(corrupt)}, 'any', CONTENT),
        Case('compressedDepth', True, {'format': '16UC1; compressedDepth', 'data': png},
             'encoding'),
        Case('png bomb', True, {'format': 'png', 'data': bomb}, 'too_large'),
        Case('png claiming 100000x100000', True,
             {'format': 'png', 'data': claim[0]}, 'too_large'),
        Case('png claiming 5000x5000', True,
             {'format': 'png', 'data': claim[1]}, 'too_large'),
        # 63 kB on the wire, 60 MB of text once inflated: refused while decoding.
        Case('png text flood', True, {'format': 'png', 'data': texty}, 'decode', CONTENT),
        Case('jpeg claiming 60000x60000', True,
             {'format': fmt, 'data': jpeg_claiming(jpg, 60000, 60000)}, 'too_large'),
    ]


def corpus(n_image, n_compressed, seed=0, valid_every=10):
    """
    Return at least ``n_image`` Image and ``n_compressed`` CompressedImage cases.

    Cases are shuffled; every ``valid_every``-th message is a plain valid rgb8 frame (or a
    valid JPEG), so valid input keeps arriving among the hostile.
    """
    rng = np.random.default_rng(seed)
    bomb = png_bomb(20000, 20000)
    claim = png_bomb(100000, 100000)[:200], png_bomb(5000, 5000)[:200]
    texty = png_with_text(_png(rng.integers(0, 256, (8, 8, 3), np.uint8)))
    images, comps = [], []
    while len(images) < n_image:
        images += image_cases(rng)
    while len(comps) < n_compressed:
        comps += compressed_cases(rng, bomb, claim, texty)
    out = []
    for cases, compressed in ((images, False), (comps, True)):
        order = rng.permutation(len(cases))
        for i, j in enumerate(order):
            if i % valid_every == 0:
                if compressed:
                    arr = rng.integers(0, 256, (48, 64, 3), np.uint8)
                    out.append(Case('interleaved valid jpeg', True,
                                    {'format': 'jpeg', 'data': _jpeg(arr)}, VALID))
                else:
                    out.append(Case('interleaved valid rgb8', False, valid_image(rng), VALID))
            out.append(cases[j])
    return out
