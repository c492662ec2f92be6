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

"""The fuzz corpus of the live-node test, against the conversion functions directly (fast)."""

import collections
import tracemalloc

import fuzz_corpus
from fuzz_corpus import CONTENT
from fuzz_corpus import VALID
import numpy as np
import pytest
from segnet_ros import conversions
from test_conversions import FakeCompressedImage
from test_conversions import FakeImage
from test_conversions import RosCompressedImage
from test_conversions import RosImage

MAX_PIXELS = 4096 * 4096  # the node's default max_image_pixels
CORPUS = fuzz_corpus.corpus(2200, 1400, seed=7)
FACTORIES = [pytest.param((FakeImage, FakeCompressedImage), id='stand-in')]
if RosImage is not None:
    FACTORIES.append(pytest.param((RosImage, RosCompressedImage), id='sensor_msgs'))


def convert(msg, compressed):
    if compressed:
        return conversions.compressed_to_rgb8(msg, MAX_PIXELS)
    return conversions.to_rgb8(msg, max_pixels=MAX_PIXELS)


def check(msg, compressed):
    if compressed:
        conversions.check_compressed(msg, MAX_PIXELS)
    else:
        conversions.check_image(msg, MAX_PIXELS)


def test_corpus_is_big_and_covers_both_types_and_every_reason():
    hostile = collections.Counter(c.compressed for c in CORPUS if c.expect != VALID)
    assert sum(hostile.values()) >= 2000 and hostile[False] >= 1000 and hostile[True] >= 900
    reasons = {c.expect for c in CORPUS}
    assert reasons >= {VALID, 'encoding', 'size', 'too_large', 'step', 'data', 'decode'}


@pytest.mark.parametrize('factories', FACTORIES)
def test_every_case_gets_its_verdict_and_nothing_else_escapes(factories):
    seen = collections.Counter()
    tracemalloc.start()
    try:
        for case in CORPUS:
            msg = case.build(*factories)
            if case.expect == VALID:
                check(msg, case.compressed)
                rgb = convert(msg, case.compressed)
                assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, case.name
                seen[VALID] += 1
                continue
            # Only ConversionError may come out, with the reason the node counts it under.
            if case.stage == CONTENT:
                check(msg, case.compressed)  # passes the callback's cheap checks ...
            else:
                with pytest.raises(conversions.ConversionError) as exc:
                    check(msg, case.compressed)
                assert exc.value.reason == case.expect, case.name
            try:
                convert(msg, case.compressed)
            except conversions.ConversionError as e:
                assert case.expect in ('any', e.reason), (case.name, e.reason, str(e))
                seen[e.reason] += 1
            else:
                assert case.expect == 'any', case.name
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Headers claiming up to 2^64 pixels and a 400 MB PNG bomb: nothing near that is
    # allocated (the largest valid frame here is far below 64 MB).
    assert peak < 64 << 20
    assert seen[VALID] > 300 and seen['too_large'] > 50


def test_rejection_messages_name_sizes_and_encoding():
    by_name = {c.name: c for c in CORPUS}
    msg = by_name['100000x100000 claimed, little data'].build(FakeImage, FakeCompressedImage)
    with pytest.raises(conversions.ConversionError, match=r'rgb8 image 100000x100000.*max_pix'):
        conversions.check_image(msg, MAX_PIXELS)
    for name, size in (('png bomb', '20000x20000'), ('png claiming 5000x5000', '5000x5000'),
                       ('jpeg claiming 60000x60000', '60000x60000')):
        msg = by_name[name].build(FakeImage, FakeCompressedImage)
        for fn in (conversions.check_compressed, conversions.compressed_to_rgb8):
            with pytest.raises(conversions.ConversionError,
                               match=rf'{size} .*exceeds max_pixels {MAX_PIXELS}'):
                fn(msg, MAX_PIXELS)
    msg = by_name['png text flood'].build(FakeImage, FakeCompressedImage)
    assert len(msg.data) < 100_000
    with pytest.raises(conversions.ConversionError, match='zTXt chunk inflates to more than'):
        conversions.compressed_to_rgb8(msg, MAX_PIXELS)
