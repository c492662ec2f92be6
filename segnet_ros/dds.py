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
Middleware settings, chosen by what the installed Fast DDS reads and reported as in effect.

Fast DDS 2.x (Humble, Jazzy) reads its XML profile only from
``FASTRTPS_DEFAULT_PROFILES_FILE``; 3.x (Kilted) reads ``FASTDDS_DEFAULT_PROFILES_FILE``, and
rmw_fastrtps still loads the old name, with a deprecation warning. A profile under a name the
library ignores is skipped without a word, so the major version is detected from the library
on the library path, never guessed from ``ROS_DISTRO`` (a venv user does not set it). What is
in effect is also observed: the shared-memory segment the process owns (Fast DDS's default is
512 KB; our large-image profile asks for 32 MB). No ROS import here: this runs before rclpy.
"""

import collections
import os
import re
import sys
import xml.etree.ElementTree as ElementTree

from .paths import share_path

NEW_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
OLD_VARIABLE = 'FASTRTPS_DEFAULT_PROFILES_FILE'
PROFILE_VARIABLES = (NEW_VARIABLE, OLD_VARIABLE)
BUNDLED_PROFILE = ('config', 'fastdds_large_images.xml')
# libfastrtps.so.2.14 (Fast DDS 2.x) was renamed libfastdds.so.3.2 in 3.0.
_LIBRARY = re.compile(r'^lib(fastrtps|fastdds)\.so\.(\d+(?:\.\d+)*)$')


class ProfileError(ValueError):
    """A Fast DDS profile file named in the environment is missing or not valid XML."""


Settings = collections.namedtuple('Settings', [
    'rmw',         # RMW_IMPLEMENTATION, or the default
    'fastdds',     # Fast DDS major version (2, 3), None where unknown or not Fast DDS
    'version',     # its full version, '2.14.5', or None
    'profile',     # the profile file in effect, or None
    'variable',    # the variable it is read from, or None
    'ignored',     # [(variable, path)] set but not read by the installed Fast DDS
    'also',        # [(variable, path)] read as well (3.x with both names set)
])


def fastdds_version(environ=None):
    """
    Return the version of the Fast DDS library the middleware loads, e.g. (2, 14, 5), or None.

    Looked up as the dynamic loader would find it: ``LD_LIBRARY_PATH`` (set by a ROS
    ``setup.bash`` and by the wheels' bootstrapper), then each ``AMENT_PREFIX_PATH`` prefix
    and this Python's prefix; the version is the longest one the file names carry
    (libfastrtps.so.2.14.5 beside its links libfastrtps.so.2.14 and libfastrtps.so).
    """
    env = os.environ if environ is None else environ
    dirs = [d for d in env.get('LD_LIBRARY_PATH', '').split(os.pathsep) if d]
    dirs += [os.path.join(p, 'lib') for p in env.get('AMENT_PREFIX_PATH', '').split(
        os.pathsep) if p]
    dirs.append(os.path.join(sys.prefix, 'lib'))
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found = [m.group(2) for m in map(_LIBRARY.match, names) if m]
        if found:
            return tuple(int(v) for v in max(found, key=len).split('.'))
    return None


def fastdds_major(environ=None):
    """Return the major version of the Fast DDS library the middleware loads, or None."""
    version = fastdds_version(environ)
    return version[0] if version else None


def read_variables(major):
    """Return the profile variables Fast DDS ``major`` reads, first the one that wins."""
    if major is not None and major < 3:
        return (OLD_VARIABLE,)
    return PROFILE_VARIABLES  # 3.x; an unknown version is taken as the newest


def _uses_fastdds(env):
    return env.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp').startswith('rmw_fastrtps')


def check_profile_file(path):
    """Return why ``path`` cannot be a Fast DDS XML profile, or None when it can."""
    if not os.path.exists(path):
        return 'no such file'
    if not os.path.isfile(path):
        return 'not a regular file'
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as e:
        return f'not valid XML ({e})'
    except OSError as e:
        return f'cannot be read ({e.strerror})'
    tag = root.tag.rsplit('}', 1)[-1]
    if tag not in ('profiles', 'dds'):
        return f'not a Fast DDS profile (root element <{tag}>, expected <profiles> or <dds>)'
    return None


def check_user_profiles(environ=None):
    """Raise ProfileError naming the variable and the file when a set profile is unusable."""
    env = os.environ if environ is None else environ
    if not _uses_fastdds(env):
        return
    for key in PROFILE_VARIABLES:
        if env.get(key):
            err = check_profile_file(env[key])
            if err:
                raise ProfileError(f'{key}={env[key]}: {err}')


def use_large_image_transport(environ=None):
    """
    Point Fast DDS at the bundled large-image profile unless the user named a profile.

    The bundled file goes under the variable the installed Fast DDS reads. A profile the user
    set is checked (ProfileError when missing or not XML) and left as it is, even where the
    library ignores it: ``settings()`` then says so. Must run before ``rclpy.init()``; it
    changes the environment of this process and of the processes it starts. Returns
    ``settings()``.
    """
    env = os.environ if environ is None else environ
    if _uses_fastdds(env):
        check_user_profiles(env)
        profile = share_path(*BUNDLED_PROFILE)
        if not any(env.get(k) for k in PROFILE_VARIABLES) and os.path.isfile(profile):
            # Under 3.x the old name would work too, with a deprecation warning.
            env[read_variables(fastdds_major(env))[0]] = profile
    return settings(env)


def settings(environ=None):
    """Return the middleware Settings the environment puts in effect."""
    env = os.environ if environ is None else environ
    rmw = env.get('RMW_IMPLEMENTATION') or 'rmw_fastrtps_cpp (default)'
    if not _uses_fastdds(env):
        return Settings(rmw, None, None, None, None, [], [])
    version = fastdds_version(env)
    major = version[0] if version else None
    read = read_variables(major)
    set_ = [k for k in PROFILE_VARIABLES if env.get(k)]
    used = next((k for k in read if k in set_), None)
    ignored = [(k, env[k]) for k in set_ if k not in read]
    also = [(k, env[k]) for k in set_ if k in read and k != used and env[k] != env[used]]
    return Settings(rmw, major, '.'.join(map(str, version)) if version else None,
                    env[used] if used else None, used, ignored, also)


def shm_segment_bytes(pid=None):
    """
    Return the size of the shared-memory segment Fast DDS created for process ``pid``.

    A participant holds an exclusive lock on ``/dev/shm/<segment>_el`` for its life; the lock
    table says whose it is. None when the process owns none (no participant yet, SHM
    transport off) or where /proc/locks is not readable.
    """
    pid = str(os.getpid() if pid is None else pid)
    try:
        with open('/proc/locks') as f:
            inodes = {int(p[5].split(':')[2]) for p in (ln.split() for ln in f)
                      if len(p) > 5 and p[4] == pid}
        names = os.listdir('/dev/shm')
    except (OSError, ValueError, IndexError):
        return None
    sizes = []
    for name in names:
        if not name.endswith('_el') or '_port' in name:
            continue  # port queues (fastdds_port7411) are discovery, not the data segment
        try:
            if os.stat(os.path.join('/dev/shm', name)).st_ino in inodes:
                sizes.append(os.path.getsize(os.path.join('/dev/shm', name[:-3])))
        except OSError:
            continue
    return max(sizes) if sizes else None


def describe(s, segment=None):
    """Return one line for the ready line and /diagnostics: what is in effect, and why."""
    if not s.rmw.startswith('rmw_fastrtps'):
        return f'{s.rmw}, no Fast DDS profile'
    parts = [s.rmw, f'Fast DDS {s.version}' if s.version else 'Fast DDS (version unknown)']
    if s.profile:
        note = ', deprecated name' if s.variable == OLD_VARIABLE and (s.fastdds or 3) >= 3 \
            else ''
        parts.append(f'profile {s.profile} in effect ({s.variable}{note})')
    else:
        parts.append('no profile in effect (Fast DDS defaults)')
    for key, path in s.also:
        parts.append(f'{key}={path} loaded too, first (profiles of the same name collide)')
    for key, path in s.ignored:
        parts.append(f'IGNORED: {key}={path} (Fast DDS {s.fastdds}.x reads only '
                     f'{read_variables(s.fastdds)[0]})')
    if segment is not None:
        parts.append(f'shared-memory segment {segment} bytes')
    return ', '.join(parts)


def ignored_warning(s):
    """Return the start-up warning for a profile the installed Fast DDS ignores, or None."""
    if not s.ignored:
        return None
    key, path = s.ignored[0]
    right = read_variables(s.fastdds)[0]
    return (f'the Fast DDS profile {path} in {key} is ignored by the installed Fast DDS '
            f'{s.fastdds}.x, which reads only {right}: this process runs on '
            f'{"the profile in " + s.variable if s.profile else "Fast DDS defaults"}; '
            f'export {right}={path} instead')


Observed = collections.namedtuple('Observed', 'settings segment line warning values')


def observe(environ=None, pid=None, warn=None):
    """
    Return what is in effect for a process whose participant exists (a node's, after init).

    ``line`` for its ready line, ``warning`` (or None) for a profile the installed Fast DDS
    ignores, also passed to ``warn`` when given, ``values`` for its /diagnostics.
    """
    s = settings(environ)
    if warn is not None and ignored_warning(s):
        warn(ignored_warning(s))
    segment = shm_segment_bytes(pid)
    line = describe(s, segment)
    return Observed(s, segment, line, ignored_warning(s), {
        'dds': line, 'dds_profile': s.profile or 'none',
        'dds_shm_segment_bytes': str(segment or 0)})


def confine_to_localhost(environ=None):
    """
    Keep DDS discovery on this host (tests, benchmarks), as each distro spells it.

    Iron and later read ``ROS_AUTOMATIC_DISCOVERY_RANGE``; Humble knows only
    ``ROS_LOCALHOST_ONLY``. A value already set is kept.
    """
    env = os.environ if environ is None else environ
    if env.get('ROS_DISTRO') == 'humble':
        env.setdefault('ROS_LOCALHOST_ONLY', '1')
    else:
        env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


def main(argv=None):
    """
    ``python3 -m segnet_ros.dds``: print the export that gives a process the bundled profile.

    For a shell that starts subscribers of our large outputs, under the name the installed
    Fast DDS reads: ``eval "$(python3 -m segnet_ros.dds)"``. ``--describe`` prints what a
    process started from this shell would have in effect instead.
    """
    import argparse
    p = argparse.ArgumentParser(prog='python3 -m segnet_ros.dds', description=main.__doc__)
    p.add_argument('--describe', action='store_true',
                   help='print the Fast DDS settings in effect for this environment')
    args = p.parse_args(argv)
    if args.describe:
        try:
            check_user_profiles()
        except ProfileError as e:
            print(f'{p.prog}: error: Fast DDS profile {e}', file=sys.stderr)
            return 2
        s = settings()
        print(describe(s))
        return 1 if s.ignored else 0
    major = fastdds_major()
    if major is None:
        print(f'{p.prog}: error: no Fast DDS library (libfastdds.so.3 / libfastrtps.so.2) on '
              'LD_LIBRARY_PATH; source your ROS 2 setup.bash first', file=sys.stderr)
        return 1
    print(f'export {read_variables(major)[0]}={share_path(*BUNDLED_PROFILE)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
