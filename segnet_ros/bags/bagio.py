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

"""Read and write rosbag2 bags (sqlite3 or mcap) holding camera images and label masks."""

from dataclasses import dataclass
import os

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

from .. import conversions

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
STORAGES = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
# Metadata version 8: the newest that Humble's rosbag2 reads. Humble (writes 5) never checks
# the number and skips keys it does not know, but version 9 turned offered_qos_profiles from
# a YAML string into a list, which Humble fails to parse; Jazzy and Kilted (write 9) read
# 3..9. The same holds for mcap, whose Humble plugin reads QoS from the channel metadata.
BAG_VERSION = 8
TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)


class BagError(ValueError):
    """A bag that cannot be used: missing, without the topic, or with undecodable messages."""


def _factory(msgtype):
    cls = TYPESTORE.types[msgtype]

    def make():
        return _Mutable(cls)
    return make


class _Mutable:
    """Attribute bag that becomes a rosbags message on ``build()`` (rosbags types are frozen)."""

    def __init__(self, cls):
        self.__dict__['_cls'] = cls
        self.__dict__['_fields'] = {}

    def __setattr__(self, name, value):
        self._fields[name] = value

    def __getattr__(self, name):
        try:
            return self.__dict__['_fields'][name]
        except KeyError:
            raise AttributeError(name) from None


def _header(stamp_ns, frame_id):
    t = TYPESTORE.types['builtin_interfaces/msg/Time'](
        sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000))
    return TYPESTORE.types['std_msgs/msg/Header'](stamp=t, frame_id=frame_id)


def image_message(array, encoding, stamp_ns, frame_id='camera'):
    """Return a rosbags sensor_msgs/Image for an array (conversions decide the layout)."""
    m = conversions.numpy_to_imgmsg(array, encoding, _factory(IMAGE))
    f = m._fields
    return TYPESTORE.types[IMAGE](
        header=_header(stamp_ns, frame_id), height=f['height'], width=f['width'],
        encoding=f['encoding'], is_bigendian=f['is_bigendian'], step=f['step'],
        data=np.frombuffer(f['data'], np.uint8))


def compressed_message(rgb, fmt, stamp_ns, frame_id='camera', quality=90):
    """Return a rosbags sensor_msgs/CompressedImage (fmt 'jpeg' or 'png')."""
    m = conversions.numpy_to_compressed(rgb, fmt, _factory(COMPRESSED), quality=quality)
    f = m._fields
    return TYPESTORE.types[COMPRESSED](header=_header(stamp_ns, frame_id), format=f['format'],
                                       data=np.frombuffer(f['data'], np.uint8))


def camera_info_message(width, height, stamp_ns, frame_id='camera', fx=None):
    """Return a pinhole CameraInfo with the principal point at the centre (no distortion)."""
    fx = fx or 0.8 * width
    cx, cy = (width - 1) / 2, (height - 1) / 2
    roi = TYPESTORE.types['sensor_msgs/msg/RegionOfInterest'](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return TYPESTORE.types[CAMERA_INFO](
        header=_header(stamp_ns, frame_id), height=height, width=width,
        distortion_model='plumb_bob', d=np.zeros(5),
        k=np.array([fx, 0, cx, 0, fx, cy, 0, 0, 1], float),
        r=np.eye(3).ravel(), p=np.array([fx, 0, cx, 0, 0, fx, cy, 0, 0, 0, 1, 0], float),
        binning_x=0, binning_y=0, roi=roi)


class BagWriter:
    """Context manager that writes typed messages to a new bag, closed even on Ctrl-C."""

    def __init__(self, path, storage='sqlite3'):
        if storage not in STORAGES:
            raise BagError(f"unknown storage '{storage}'; use {', '.join(STORAGES)}")
        if os.path.exists(path):
            raise BagError(f'{path}: already exists; choose a new output folder')
        self._writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._conns = {}

    def __enter__(self):
        self._writer.open()
        return self

    def __exit__(self, *exc):
        self._writer.close()
        return False

    def write(self, topic, msgtype, msg, stamp_ns):
        """Serialise ``msg`` and write it at ``stamp_ns`` (receive time, nanoseconds)."""
        self.write_raw(topic, msgtype, TYPESTORE.serialize_cdr(msg, msgtype), stamp_ns)

    def write_raw(self, topic, msgtype, data, stamp_ns):
        """Write already serialised CDR bytes (from rosbags or rclpy)."""
        if msgtype not in TYPESTORE.types:
            raise BagError(f'{topic}: unknown message type {msgtype}')
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._conns[topic] = self._writer.add_connection(
                topic, msgtype, typestore=TYPESTORE)
        self._writer.write(conn, int(stamp_ns), bytes(data))


@dataclass
class BagMessage:
    """One decoded message of a bag."""

    topic: str
    msgtype: str
    timestamp: int       # bag (receive) time, nanoseconds
    msg: object


def open_reader(path):
    """Open a bag for reading or raise BagError with one clear line."""
    if not os.path.exists(path):
        raise BagError(f'{path}: no such bag')
    try:
        reader = Reader(path)
        reader.open()
    except Exception as e:  # rosbags raises several types for broken bags
        raise BagError(f'{path}: not a readable rosbag2 bag ({e})') from None
    return reader


def topics(path):
    """Return {topic: (msgtype, count)} of a bag."""
    reader = open_reader(path)
    try:
        return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    finally:
        reader.close()


def copy_messages(path, writer, skip_unknown=True):
    """Copy every message of a bag whose type we know into ``writer``; return skipped topics."""
    reader = open_reader(path)
    skipped = set()
    try:
        for conn, timestamp, raw in reader.messages():
            if conn.msgtype not in TYPESTORE.types:
                skipped.add(conn.topic)
                continue
            writer.write_raw(conn.topic, conn.msgtype, raw, timestamp)
    finally:
        reader.close()
    return sorted(skipped)


def read_messages(path, wanted, on_error=None):
    """
    Yield BagMessage for the topics in ``wanted`` (in bag order).

    Messages that fail to decode are passed to ``on_error(topic, timestamp, exc)`` and
    skipped; a topic that is not in the bag raises BagError listing the topics it has.
    """
    reader = open_reader(path)
    try:
        present = {c.topic: c for c in reader.connections}
        missing = [t for t in wanted if t not in present]
        if missing:
            listing = ', '.join(f'{t} ({c.msgtype})' for t, c in sorted(present.items()))
            raise BagError(f"{path}: no topic {', '.join(missing)}; the bag has: {listing}")
        conns = [present[t] for t in wanted]
        for conn, timestamp, raw in reader.messages(connections=conns):
            try:
                msg = TYPESTORE.deserialize_cdr(raw, conn.msgtype)
            except Exception as e:  # undecodable bytes must not end the run
                if on_error is None:
                    raise BagError(f'{path}: message on {conn.topic} at {timestamp} does not '
                                   f'decode as {conn.msgtype} ({e})') from None
                on_error(conn.topic, timestamp, e)
                continue
            yield BagMessage(conn.topic, conn.msgtype, timestamp, msg)
    finally:
        reader.close()


def stamp_ns(msg):
    """Header stamp of a message in nanoseconds."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def decode_rgb(bag_msg, max_pixels=None):
    """Return the RGB array of an Image or CompressedImage bag message."""
    if bag_msg.msgtype == COMPRESSED:
        return conversions.compressed_to_rgb8(bag_msg.msg, max_pixels)
    if bag_msg.msgtype == IMAGE:
        return conversions.to_rgb8(bag_msg.msg, max_pixels=max_pixels)
    raise BagError(f'{bag_msg.topic}: {bag_msg.msgtype} is not an image type '
                   f'({IMAGE} or {COMPRESSED})')


def decode_label(bag_msg):
    """Return the (H, W) uint8 label array of a mono8/8UC1 Image bag message."""
    if bag_msg.msgtype != IMAGE:
        raise BagError(f'{bag_msg.topic}: labels must be {IMAGE}, got {bag_msg.msgtype}')
    arr = conversions.imgmsg_to_numpy(bag_msg.msg)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise conversions.ConversionError(
            f'{bag_msg.msg.encoding} label {bag_msg.msg.width}x{bag_msg.msg.height}: expected '
            'a single-channel 8-bit mask (mono8 or 8UC1)')
    return arr


def read_frames(bag, topic):
    """Return the RGB frames of ``topic`` in a bag, in order."""
    return [decode_rgb(m) for m in read_messages(bag, [topic])]
