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

"""The semantic point cloud's geometry and stamp joining, on synthetic scenes (no ROS)."""

import collections

import numpy as np
import pytest
from segnet_ros import cloud

Info = collections.namedtuple('Info', 'k width height')
PALETTE = np.array([[0, 0, 0], [255, 128, 1], [10, 200, 30], [7, 8, 9]], np.uint8)


def info(fx=50.0, fy=40.0, cx=31.5, cy=23.5, w=64, h=48):
    return Info([fx, 0, cx, 0, fy, cy, 0, 0, 1], w, h)


def test_a_plane_at_a_known_distance_gives_exact_coordinates():
    k = cloud.intrinsics(info())
    depth_mm = np.full((48, 64), 2000, np.uint16)
    z = cloud.depth_in_metres(depth_mm, '16UC1')
    mask = np.zeros((48, 64), np.uint8)
    pts = cloud.make_cloud(mask, z, k, PALETTE)
    assert pts.shape == (48, 64) and pts.dtype.itemsize == 24
    u, v = np.meshgrid(np.arange(64), np.arange(48))
    np.testing.assert_allclose(pts['z'], 2.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pts['x'], (u - 31.5) * 2.0 / 50.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pts['y'], (v - 23.5) * 2.0 / 40.0, rtol=0, atol=1e-6)
    # The same in metres (32FC1).
    z32 = cloud.depth_in_metres(np.full((48, 64), 2.0, np.float32), '32FC1')
    np.testing.assert_array_equal(cloud.make_cloud(mask, z32, k, PALETTE)['x'], pts['x'])


def test_a_labelled_rectangle_lands_where_it_should_with_its_colour():
    k = cloud.intrinsics(info())
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 40:50] = 1
    z = np.full((48, 64), 3.0, np.float32)
    pts = cloud.make_cloud(mask, z, k, PALETTE, confidence=np.full((48, 64), 0.75, np.float32))
    inside = pts[pts['label'] == 1]
    assert len(inside) == 100
    assert inside['x'].min() == pytest.approx((40 - 31.5) * 3 / 50)
    assert inside['x'].max() == pytest.approx((49 - 31.5) * 3 / 50)
    assert inside['y'].min() == pytest.approx((10 - 23.5) * 3 / 40)
    assert inside['y'].max() == pytest.approx((19 - 23.5) * 3 / 40)
    assert set(inside['rgb'].view(np.uint32)) == {0xFF8001}  # PCL's 0x00RRGGBB in a float
    assert set(pts['confidence'].ravel()) == {0.75}


def test_missing_negative_and_odd_depth_become_nan_points_never_a_crash():
    k = cloud.intrinsics(info(w=4, h=2))
    raw = np.array([[0.0, np.nan, -1.0, np.inf], [1.0, 5.0, 0.5, 2.0]], np.float32)
    z = cloud.depth_in_metres(raw, '32FC1', min_depth=0.6, max_depth=4.0)
    assert np.isnan(z[0]).all() and np.isnan(z[1, 1]) and np.isnan(z[1, 2])
    assert z[1, 0] == 1.0 and z[1, 3] == 2.0
    mask = np.array([[0, 1, 2, 3], [1, 1, 2, 2]], np.uint8)
    pts = cloud.make_cloud(mask, z, k, PALETTE)
    assert np.isnan(pts['x'][0]).all() and np.isnan(pts['z'][1, 1])
    assert list(pts['label'][0]) == [0, 1, 2, 3]  # organized: the label stays with the pixel
    valid = cloud.make_cloud(mask, z, k, PALETTE, valid_only=True)
    assert valid.shape == (2,) and list(valid['z']) == [1.0, 2.0]
    mm = cloud.depth_in_metres(np.array([[0, 1500, 65535]], np.uint16), '16UC1')
    assert np.isnan(mm[0, 0]) and mm[0, 1] == pytest.approx(1.5)


def test_stride_keeps_every_nth_pixel():
    k = cloud.intrinsics(info())
    mask = (np.arange(48 * 64) % 4).reshape(48, 64).astype(np.uint8)
    z = np.full((48, 64), 1.0, np.float32)
    full = cloud.make_cloud(mask, z, k, PALETTE)
    every3 = cloud.make_cloud(mask, z, k, PALETTE, stride=3)
    assert every3.shape == (16, 22)
    assert every3.tobytes() == np.ascontiguousarray(full[::3, ::3]).tobytes()


def test_depth_of_another_size_is_resampled_through_both_intrinsics():
    mask_k = cloud.intrinsics(info())
    depth_k = cloud.intrinsics(info(fx=100, fy=80, cx=63.5, cy=47.5, w=128, h=96))
    # Depth increases with the column: each depth pixel says where it is.
    depth = np.tile(np.arange(128, dtype=np.float32) + 1, (96, 1))
    z = cloud.sample_depth(depth, depth_k, mask_k)
    assert z.shape == (48, 64)
    # Mask column u looks along the ray that depth column 2u + 0.5 sees: nearest is 2u or
    # 2u + 1 (round half to even), never farther.
    assert (np.abs(z[0] - 1 - 2 * np.arange(64)) <= 1).all()
    # A narrower depth camera: what falls outside it is NaN.
    narrow_k = cloud.intrinsics(info(fx=50, fy=40, cx=15.5, cy=23.5, w=32, h=48))
    z = cloud.sample_depth(np.ones((48, 32), np.float32), narrow_k, mask_k)
    assert np.isnan(z[:, :15]).all() and not np.isnan(z[:, 17:47]).any()
    # Scaled as image_proc's resize and the node's ~/camera_info scale K: cx * sx.
    assert cloud.scaled(depth_k, 64, 48) == (50.0, 40.0, 31.75, 23.75, 64, 48)


def test_bad_camera_info_and_depth_encoding_are_one_clear_error():
    for bad in (info(fx=0.0), info(fy=-1.0), info(fx=float('nan')), info(w=0)):
        with pytest.raises(cloud.CloudError) as e:
            cloud.intrinsics(bad, '/cam/depth/camera_info')
        assert e.value.reason == 'camera_info' and '/cam/depth/camera_info' in str(e.value)
    with pytest.raises(cloud.CloudError) as e:
        cloud.depth_in_metres(np.zeros((2, 2), np.uint8), 'mono8')
    assert e.value.reason == 'encoding' and "'mono8'" in str(e.value)
    with pytest.raises(cloud.CloudError):
        cloud.make_cloud(np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.float32),
                         cloud.intrinsics(info(w=4, h=4)), PALETTE)


def test_confidence_in_either_encoding():
    assert cloud.confidence_in_unit(np.array([[0, 255]], np.uint8), 'mono8').tolist() == \
        [[0.0, 1.0]]
    with pytest.raises(cloud.CloudError):
        cloud.confidence_in_unit(np.zeros((1, 1), np.uint16), '16UC1')


def test_exact_join_pairs_equal_stamps_and_reports_the_unmatched():
    j = cloud.StampJoiner(['mask', 'depth'])
    assert j.add('mask', 100, 'm100') == ([], [])
    assert j.add('depth', 100, 'd100') == ([{'mask': 'm100', 'depth': 'd100'}], [])
    assert j.add('mask', 200, 'm200') == ([], [])
    # Depth moved past 200 without one for it: that mask can never be joined.
    assert j.add('depth', 205, 'd205') == ([], [200])
    assert j.add('mask', 205, 'm205')[0] == [{'mask': 'm205', 'depth': 'd205'}]


def test_slop_joins_the_nearest_within_it():
    j = cloud.StampJoiner(['mask', 'depth', 'confidence'], slop=0.010)
    j.add('depth', 1_000_000, 'd')
    j.add('depth', 30_000_000, 'd30')
    j.add('confidence', 25_000_000, 'c')
    joined, unmatched = j.add('mask', 25_000_000, 'm')
    assert joined == [{'mask': 'm', 'depth': 'd30', 'confidence': 'c'}] and unmatched == []
    assert j.nearest_offset_ms('depth', 0) == pytest.approx(1.0)


def test_an_anchor_that_waits_too_long_falls_out_as_unmatched():
    j = cloud.StampJoiner(['mask', 'depth'], keep=3)
    out = [j.add('mask', t, t) for t in range(5)]
    assert [u for _, u in out] == [[], [], [], [0], [1]]
