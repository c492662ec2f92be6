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
import glob
import mmap
import os
import struct

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
    """Open a bag for reading with rosbags or raise BagError with one clear line."""
    if not os.path.exists(path):
        raise BagError(f'{path}: no such bag')
    try:
        reader = Reader(path)
        reader.open()
    except Exception as e:  # rosbags raises several types for broken bags
        raise BagError(f'{path}: not a readable rosbag2 bag ({e})') from None
    return reader


MCAP_MAGIC = b'\x89MCAP0\r\n'
_OP_FOOTER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x02, 0x03, 0x04, 0x05, 0x06


class _Buf:
    """Little-endian reader over bytes; raises EOFError where the bytes end."""

    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise EOFError
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def num(self, fmt):
        return struct.unpack('<' + fmt, self.take(struct.calcsize(fmt)))[0]

    def text(self):
        return bytes(self.take(self.num('I'))).decode('utf-8', 'replace')


def _partial_decompress(compression, data):
    """Decompress as much of a (possibly cut) chunk body as there is."""
    if compression == '':
        return data
    try:
        if compression == 'zstd':
            import zstandard
            return zstandard.ZstdDecompressor().decompressobj().decompress(bytes(data))
        if compression == 'lz4':
            import lz4.frame
            return lz4.frame.LZ4FrameDecompressor().decompress(bytes(data))
    except ImportError as e:
        raise BagError(f'reading a {compression} chunk of a cut MCAP file needs the Python '
                       f'package {e.name} (pip install {e.name})') from None
    raise BagError(f'mcap chunk compression {compression!r} is not supported')


def _mcap_records(data, on_cut):
    """
    Yield (opcode, body) of an MCAP byte string in file order, chunks opened in place.

    A file that ends inside a record (a recording that crashed) yields everything before
    that record, and for a cut chunk the complete records inside it; ``on_cut(offset)`` is
    then called with the offset of the record that was cut.
    """
    buf = _Buf(data, len(MCAP_MAGIC))
    while True:
        start = buf.pos
        try:
            op, length = buf.num('B'), buf.num('Q')
        except EOFError:
            if start < len(data):
                on_cut(start)
            else:
                on_cut(len(data))
            return
        body = data[buf.pos:buf.pos + length]
        buf.pos += length
        if op == _OP_FOOTER:
            return
        if op != _OP_CHUNK:
            if len(body) < length:
                on_cut(start)
                return
            yield op, body
            continue
        try:
            c = _Buf(body)
            c.take(8 + 8 + 8 + 4)  # message start/end time, uncompressed size and crc
            compression = c.text()
            size = c.num('Q')
            records = _partial_decompress(compression, body[c.pos:c.pos + size])
        except EOFError:
            on_cut(start)
            return
        inner = _Buf(records)
        while inner.pos < len(records):
            try:
                iop, ilen = inner.num('B'), inner.num('Q')
                ibody = inner.take(ilen)
            except EOFError:
                break
            yield iop, ibody
        if len(body) < length:
            on_cut(start)
            return


def _map(name):
    """Return the bytes of a file as a read-only memory map (pages read as they are used)."""
    with open(name, 'rb') as f:
        if not os.fstat(f.fileno()).st_size:
            return b''
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


class McapStream:
    """
    An MCAP bag read front to back without its footer, as far as its bytes go.

    rosbags needs the summary at the end of the file, which a recording that crashed never
    wrote; this reads the records in order instead (chunks uncompressed, zstd or lz4),
    through a memory map, so a long recording is not read into memory at once.
    ``cut`` is None for a whole file, else a sentence saying where the file ends.
    """

    def __init__(self, path):
        self.path = path
        self.files = (sorted(glob.glob(os.path.join(path, '*.mcap'))) if os.path.isdir(path)
                      else [path])
        if not self.files:
            raise BagError(f'{path}: not a readable rosbag2 bag (no .mcap file)')
        self.cut = None
        self.topics = {}
        last = None
        for _, msgtype, topic, timestamp, _ in self._messages(None, scan=True):
            t, n = self.topics.get(topic, (msgtype, 0))
            self.topics[topic] = (t, n + 1)
            last = timestamp
        self.last_timestamp = last

    def _messages(self, wanted, scan=False):
        for name in self.files:
            data = _map(name)
            if data[:len(MCAP_MAGIC)] != MCAP_MAGIC:
                raise BagError(f'{name}: not an MCAP file')
            schemas, channels = {}, {}
            cut = []
            for op, body in _mcap_records(memoryview(data), cut.append):
                b = _Buf(body)
                try:
                    if op == _OP_SCHEMA:
                        sid = b.num('H')
                        schemas[sid] = b.text()
                    elif op == _OP_CHANNEL:
                        cid, sid = b.num('H'), b.num('H')
                        channels[cid] = (b.text(), schemas.get(sid, ''))
                    elif op == _OP_MESSAGE:
                        cid, _, log_time, _ = (b.num('H'), b.num('I'), b.num('Q'),
                                               b.num('Q'))
                        topic, msgtype = channels[cid]
                        if wanted is None or topic in wanted:
                            yield cid, msgtype, topic, log_time, bytes(body[b.pos:])
                except (EOFError, KeyError):
                    continue
            if cut and scan and self.cut is None:
                where = (f'inside the record that starts at byte {cut[0]}'
                         if cut[0] < len(data) else 'without its summary and footer')
                self.cut = f'{os.path.basename(name)} ends at byte {len(data)}, {where}'

            if cut:
                return  # later split files cannot follow a cut one

    def messages(self, topics):
        """Yield (topic, msgtype, timestamp, raw CDR) of ``topics`` in file order."""
        for _, msgtype, topic, timestamp, raw in self._messages(set(topics)):
            yield topic, msgtype, timestamp, raw

    def close(self):
        """Nothing to release (files are read whole and closed)."""


class RosbagsSource:
    """A bag rosbags reads (sqlite3, or mcap with its summary)."""

    cut = None

    def __init__(self, path):
        self.path = path
        self.reader = open_reader(path)
        self.topics = {c.topic: (c.msgtype, c.msgcount) for c in self.reader.connections}

    def messages(self, topics):
        """Yield (topic, msgtype, timestamp, raw CDR) of ``topics`` in bag order."""
        conns = [c for c in self.reader.connections if c.topic in set(topics)]
        if not conns:
            return
        for conn, timestamp, raw in self.reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, timestamp, raw

    def close(self):
        """Close the reader."""
        self.reader.close()


def _has_mcap(path):
    if os.path.isfile(path):
        return path.endswith('.mcap')
    return bool(glob.glob(os.path.join(path, '*.mcap')))


def open_bag(path):
    """
    Open a bag for reading: rosbags where it can, else an MCAP file read front to back.

    A cut MCAP file (no footer) is read as far as it goes; its source has ``cut`` set.
    """
    if not os.path.exists(path):
        raise BagError(f'{path}: no such bag')
    try:
        return RosbagsSource(path)
    except BagError:
        if not _has_mcap(path):
            raise
    return McapStream(path)


def topics(path):
    """Return {topic: (msgtype, count)} of a bag."""
    source = open_bag(path)
    try:
        return dict(source.topics)
    finally:
        source.close()


def copy_messages(path, writer, skip_unknown=True):
    """Copy every message of a bag whose type we know into ``writer``; return skipped topics."""
    source = open_bag(path)
    skipped = set()
    try:
        for topic, msgtype, timestamp, raw in source.messages(list(source.topics)):
            if msgtype not in TYPESTORE.types:
                skipped.add(topic)
                continue
            writer.write_raw(topic, msgtype, raw, timestamp)
    finally:
        source.close()
    return sorted(skipped)


def listing(present):
    """Return 'topic (type), ...' of a {topic: (msgtype, count)} dict, for error messages."""
    return ', '.join(f'{t} ({v[0]})' for t, v in sorted(present.items())) or 'no topics'


def read_messages(path, wanted, on_error=None, source=None):
    """
    Yield BagMessage for the topics in ``wanted`` (in bag order).

    Messages that fail to decode are passed to ``on_error(topic, timestamp, exc)`` and
    skipped; a topic that is not in the bag raises BagError listing the topics it has.
    ``source``, an open bag (open_bag), is read instead of opening ``path`` again.
    """
    own = source is None
    source = open_bag(path) if own else source
    try:
        present = source.topics
        missing = [t for t in wanted if t not in present]
        if missing:
            raise BagError(f"{path}: no topic {', '.join(missing)}; the bag has: "
                           f'{listing(present)}')
        for topic, msgtype, timestamp, raw in source.messages(wanted):
            try:
                msg = TYPESTORE.deserialize_cdr(raw, msgtype)
            except Exception as e:  # undecodable bytes must not end the run
                if on_error is None:
                    raise BagError(f'{path}: message on {topic} at {timestamp} does not '
                                   f'decode as {msgtype} ({e})') from None
                on_error(topic, timestamp, e)
                continue
            yield BagMessage(topic, msgtype, timestamp, msg)
    finally:
        if own:
            source.close()


LABEL_WORDS = ('label', 'mask')


def _named_like_label(topic):
    return any(w in topic.lower() for w in LABEL_WORDS)


def find_image_topic(path, present, image_topic=None):
    """
    Return the image topic to use: ``image_topic`` when given, else the bag's only one.

    Image topics are Image or CompressedImage topics not named like a label (*label*,
    *mask*). None, or several, raise BagError listing what the bag has.
    """
    kinds = (IMAGE, COMPRESSED)
    if image_topic:
        if image_topic not in present:
            raise BagError(f'{path}: no topic {image_topic}; the bag has: {listing(present)}')
        if present[image_topic][0] not in kinds:
            raise BagError(f'{path}: {image_topic} holds {present[image_topic][0]}, expected '
                           f"{' or '.join(kinds)}")
        return image_topic
    found = sorted(t for t, (msgtype, _) in present.items()
                   if msgtype in kinds and not _named_like_label(t))
    if len(found) == 1:
        return found[0]
    if not found:
        raise BagError(f'{path}: no image topic ({IMAGE} or {COMPRESSED}); the bag has: '
                       f'{listing(present)}')
    raise BagError(f"{path}: several image topics: {', '.join(found)}; choose one with "
                   '--image-topic')


def label_candidates(present):
    """Return the Image topics named like labels (*label* before *mask*), in that order."""
    found = [t for t, (msgtype, _) in present.items()
             if msgtype == IMAGE and _named_like_label(t)]
    return sorted(found, key=lambda t: ('label' not in t.lower(), t))


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


def remap_topic(topic, rules):
    """Return ``topic`` after the first matching (old, new) rule, as ``ros2 bag play --remap``."""
    for old, new in rules or ():
        if topic == old or topic.lstrip('/') == old.lstrip('/'):
            return new
    return topic
