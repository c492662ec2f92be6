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
Prepare what benchmarks/gpu_check.sh carries to a lent GPU machine: wheels and CamVid.

The GPU machine has Python 3.12 with torch, numpy, pyyaml and pillow but no ROS wheels, no
rosbags and no network. This writes, into folders git ignores (.git/info/exclude):

* ``.whl/``: cp312 manylinux wheels of rosbags and its dependencies, and of the ROS 2
  wheels the node needs (the closure of their Requires-Dist) repacked slim. The PyPI ROS
  wheels put their shared libraries and Python modules in the wheel's data scheme
  (``<dist>.data/data/lib``), which ``pip install --target`` drops, and ship each library
  three times (``.so``, ``.so.X``, ``.so.X.Y``), unstripped, with headers: 60 MiB. Repacked,
  every file is in the wheel's root: Python modules at the top, all shared libraries
  (auditwheel's included, once each) in ``lib/``, the ament index in ``share/``, so that
  after ``pip install --target DIR`` the runtime needs ``PYTHONPATH=DIR``,
  ``LD_LIBRARY_PATH=DIR/lib`` and ``AMENT_PREFIX_PATH=DIR``. The repacked wheels carry the
  build tag ``1slim``.
* ``.gpudata/camvid_train.tar``: the 367 CamVid train images as JPEG (quality 90), their
  label PNGs and class_weights.json, in the CamVid layout segnet_train reads.

    .venv/bin/python benchmarks/gpu_carry.py all --camvid ../shared/datasets/camvid
"""

import argparse
import base64
import concurrent.futures
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY_TAG = '3.12'
PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_17_x86_64',
             'manylinux2014_x86_64', 'manylinux1_x86_64')
ROS_ROOTS = ('ros-rclpy', 'ros-sensor-msgs', 'ros-std-msgs', 'ros-diagnostic-msgs',
             'ros-lifecycle-msgs', 'ros-std-srvs', 'ros-rmw-fastrtps-cpp',
             'ros-ament-index-python')
OTHER_ROOTS = ('rosbags',)
# In the GPU image already (torch needs setuptools and typing-extensions), needed only to
# build messages (empy has no wheel; lark-parser), or harmful from PYTHONPATH (the
# bootstrapper re-executes Python with LD_LIBRARY_PATH set for a venv layout).
SKIP = {'numpy', 'pyyaml', 'setuptools', 'typing-extensions', 'pillow', 'empy', 'lark-parser',
        'ros-wheels-bootstrapper'}
BUILD_TAG = '1slim'


def norm(name):
    """Return the normalised project name (PEP 503)."""
    return re.sub(r'[-_.]+', '-', name).lower()


def requirement_name(req):
    """Return the project name of a Requires-Dist line, or None when it is an extra's."""
    if 'extra ==' in req.replace('extra==', 'extra =='):
        return None
    marker = req.partition(';')[2]
    if 'python_version' in marker:
        # Evaluate the only markers these wheels use for Python 3.12.
        m = re.search(r'python_version\s*([<>=!]+)\s*"([\d.]+)"', marker)
        if m:
            have = tuple(int(v) for v in PY_TAG.split('.'))
            want = tuple(int(v) for v in m.group(2).split('.'))
            ok = {'<': have < want, '<=': have <= want, '>': have > want,
                  '>=': have >= want, '==': have == want, '!=': have != want}[m.group(1)]
            if not ok:
                return None
    return re.split(r'[\s;<>=!~\[(]', req.strip(), maxsplit=1)[0]


def wheel_metadata(path):
    """Return (name, Requires-Dist lines) of a wheel file."""
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
        text = z.read(meta).decode()
    name = re.search(r'^Name: (.+)$', text, re.M).group(1).strip()
    return name, re.findall(r'^Requires-Dist: (.+)$', text, re.M)


def pip_download(spec, dest):
    """Download one wheel (no dependencies) for CPython 3.12 on x86-64 Linux."""
    cmd = [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:',
           '--python-version', PY_TAG, '--implementation', 'cp', '-d', dest, spec]
    for p in PLATFORMS:
        cmd += ['--platform', p]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        err = [ln for ln in res.stderr.splitlines() if ln.startswith('ERROR')]
        raise RuntimeError(f'{spec}: {err[0] if err else res.stderr[-300:]}')


def download_closure(roots, dest, skip=SKIP):
    """Download ``roots`` and every wheel they require (breadth first); return skipped names."""
    os.makedirs(dest, exist_ok=True)
    have = {}
    for f in os.listdir(dest):
        if f.endswith('.whl'):
            have[norm(wheel_metadata(os.path.join(dest, f))[0])] = f
    queue, seen, skipped = list(roots), set(), set()
    while queue:
        spec = queue.pop(0)
        name = norm(re.split(r'[<>=!~]', spec)[0])
        if name in seen:
            continue
        seen.add(name)
        if name in skip:
            skipped.add(name)
            continue
        if name not in have:
            before = set(os.listdir(dest))
            pip_download(spec, dest)
            new = [f for f in set(os.listdir(dest)) - before if f.endswith('.whl')]
            have[name] = new[0]
        _, reqs = wheel_metadata(os.path.join(dest, have[name]))
        for r in reqs:
            dep = requirement_name(r)
            if dep:
                queue.append(r.partition(';')[0].replace(' ', '').replace('(', '')
                             .replace(')', ''))
    return sorted(skipped)


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    return f'{path},sha256={digest},{len(data)}'


def _elf_soname(path):
    out = subprocess.run(['readelf', '-d', path], capture_output=True, text=True).stdout
    m = re.search(r'\(SONAME\)\s+Library soname: \[(.+)\]', out)
    return m.group(1) if m else None


def _stripped(data):
    """Return ``data`` (an ELF shared library) without symbols that loading does not need."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, 'in.so'), os.path.join(tmp, 'out.so')
        with open(src, 'wb') as f:
            f.write(data)
        if subprocess.run(['strip', '--strip-unneeded', '-o', dst, src],
                          capture_output=True).returncode:
            return data
        with open(dst, 'rb') as f:
            return f.read()


def _library_group(files):
    """
    Keep one name per library: drop ``libX.so`` / ``libX.so.A.B.C`` copies of ``libX.so.A``.

    Only copies with identical bytes that are not the SONAME go; what nothing names is
    never needed at run time (dlopen'ed plugins, typesupports and the RMW have no versioned
    twins, so they stay).
    """
    by_hash = {}
    for name, data in files.items():
        by_hash.setdefault(hashlib.sha256(data).hexdigest(), []).append(name)
    keep = {}
    with tempfile.TemporaryDirectory() as tmp:
        for names in by_hash.values():
            if len(names) == 1:
                keep[names[0]] = files[names[0]]
                continue
            probe = os.path.join(tmp, 'probe.so')
            with open(probe, 'wb') as f:
                f.write(files[names[0]])
            soname = _elf_soname(probe)
            chosen = [soname] if soname in names else names
            for n in chosen:
                keep[n] = files[n]
    return keep


def slim_ros_wheel(src, dest_dir, shared_libs):
    """
    Repack one ROS wheel with all of its run-time files in the wheel root.

    ``shared_libs`` maps library names already written by earlier wheels to their digest;
    a library bundled by auditwheel in several wheels is written once.
    """
    base = os.path.basename(src)
    m = re.match(r'^([^-]+)-([^-]+)-(.+)\.whl$', base)
    dist, version, tags = m.groups()
    data_prefix = f'{dist}-{version}.data/data/'
    info_prefix = f'{dist}-{version}.dist-info/'
    pylib = re.compile(r'^lib/python\d\.\d+/site-packages/')
    out, libs = {}, {}
    with zipfile.ZipFile(src) as z:
        for item in z.infolist():
            n = item.filename
            if n.endswith('/'):
                continue
            if n.startswith(info_prefix):
                if not n.endswith('/RECORD'):
                    out[n] = z.read(n)
                continue
            if n.startswith(data_prefix):
                rel = n[len(data_prefix):]
                if pylib.match(rel):
                    out[pylib.sub('', rel)] = z.read(n)
                elif re.match(r'^lib/[^/]+\.so(\.[\d.]+)?$', rel):
                    libs[rel[4:]] = z.read(n)
                elif rel.startswith('share/') and '/cmake/' not in rel:
                    out[rel] = z.read(n)
                # headers, CMake files, generators and bin/ are build-time only
                continue
            audit = re.match(r'^[^/]+\.libs/([^/]+)$', n)
            if audit:
                libs[audit.group(1)] = z.read(n)
                continue
            if re.match(r'^[^/]+/_dummy\.cpython-[^/]+\.so$', n):
                continue  # a placeholder that only makes the wheel platform-specific
            out[n] = z.read(n)
    for name, data in _library_group(libs).items():
        digest = hashlib.sha256(data).hexdigest()
        if name in shared_libs:
            if shared_libs[name] != digest:
                print(f"warning: {base}: lib/{name} differs from an earlier wheel's; "
                      'keeping the first', file=sys.stderr)
            continue
        shared_libs[name] = digest
        if '-' not in name:  # auditwheel's grafted libraries are stripped already
            data = _stripped(data)
        out[f'lib/{name}'] = data
    wheel_file = info_prefix + 'WHEEL'
    text = out[wheel_file].decode()
    text = re.sub(r'^Build: .*\n', '', text, flags=re.M).rstrip('\n') + \
        f'\nBuild: {BUILD_TAG}\n'
    out[wheel_file] = text.encode()
    record = [_record_line(p, d) for p, d in sorted(out.items())]
    record.append(f'{info_prefix}RECORD,,')
    out[info_prefix + 'RECORD'] = ('\n'.join(record) + '\n').encode()
    dest = os.path.join(dest_dir, f'{dist}-{version}-{BUILD_TAG}-{tags}.whl')
    with zipfile.ZipFile(dest, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for path, data in sorted(out.items()):
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = path.startswith('lib/') or path.endswith('.so')
            info.external_attr = (0o755 if executable else 0o644) << 16
            z.writestr(info, data)
    return dest


def build_wheels(ros_dir, other_dir, out_dir):
    """Repack the ROS wheels and copy the others into ``out_dir``; return the file list."""
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    shared, written = {}, []
    for f in sorted(os.listdir(ros_dir)):
        if f.endswith('.whl') and norm(wheel_metadata(os.path.join(ros_dir, f))[0]) not in SKIP:
            if f.startswith('ros_'):
                written.append(slim_ros_wheel(os.path.join(ros_dir, f), out_dir, shared))
            else:
                shutil.copy(os.path.join(ros_dir, f), out_dir)
                written.append(os.path.join(out_dir, f))
    for f in sorted(os.listdir(other_dir)):
        if f.endswith('.whl') and norm(wheel_metadata(os.path.join(other_dir, f))[0]) not in SKIP:
            shutil.copy(os.path.join(other_dir, f), out_dir)
            written.append(os.path.join(out_dir, f))
    return written


def _jpeg(path):
    from PIL import Image
    buf = io.BytesIO()
    with Image.open(path) as im:
        im.convert('RGB').save(buf, 'JPEG', quality=90)
    return buf.getvalue()


def build_dataset(camvid, out_dir, split='train', workers=2, splits=None, name=None):
    """
    Write ``out_dir/camvid_<split>.tar``: JPEG images, label PNGs, class weights.

    ``splits`` puts several in one tar (``name``: its file name), e.g. train and val for
    gpu_train.sh's camvid_trainval.tar.
    """
    os.makedirs(out_dir, exist_ok=True)
    splits = splits or [split]
    dest = os.path.join(out_dir, name or f'camvid_{split}.tar')
    files = []  # (split, file name)
    for sp in splits:
        files += [(sp, n) for n in sorted(os.listdir(os.path.join(camvid, sp)))
                  if n.endswith('.png')]
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        jpegs = list(pool.map(_jpeg, [os.path.join(camvid, sp, n) for sp, n in files],
                              chunksize=16))

    def add(tar, arcname, data):
        info = tarfile.TarInfo(arcname)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(dest, 'w') as tar:
        for (sp, n), data in zip(files, jpegs):
            add(tar, f'{sp}/{os.path.splitext(n)[0]}.jpg', data)
            with open(os.path.join(camvid, f'{sp}annot', n), 'rb') as f:
                add(tar, f'{sp}annot/{n}', f.read())
        weights = os.path.join(camvid, 'class_weights.json')
        if os.path.isfile(weights):
            with open(weights, 'rb') as f:
                add(tar, 'class_weights.json', f.read())
    return dest, len(files)


def main(argv=None):
    """Download, repack and write the carry folders."""
    global PY_TAG
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('step', choices=('download', 'wheels', 'data', 'all'))
    p.add_argument('--camvid', default=os.path.join(ROOT, '..', 'shared', 'datasets', 'camvid'))
    p.add_argument('--cache', default='/tmp/segnet_gpu_carry',
                   help='where the downloaded wheels are kept')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--python-version', default=PY_TAG,
                   help='wheels for this CPython (3.12 on the GPU machine; 3.11 to test here)')
    p.add_argument('--wheel-dir', default=os.path.join(ROOT, '.whl'))
    args = p.parse_args(argv)
    PY_TAG = args.python_version
    ros_dir = os.path.join(args.cache, 'ros')
    other_dir = os.path.join(args.cache, 'other')
    if args.step in ('download', 'all'):
        skipped = download_closure(ROS_ROOTS, ros_dir)
        skipped += download_closure(OTHER_ROOTS, other_dir)
        print(f'downloaded to {args.cache}; left out (in the GPU image, build-time only or '
              f"not wanted): {', '.join(sorted(set(skipped)))}")
    if args.step in ('wheels', 'all'):
        files = build_wheels(ros_dir, other_dir, args.wheel_dir)
        size = sum(os.path.getsize(f) for f in files)
        print(f'{args.wheel_dir}: {len(files)} wheels, {size / 2 ** 20:.1f} MiB')
    if args.step in ('data', 'all'):
        for kw in ({}, {'splits': ['train', 'val'], 'name': 'camvid_trainval.tar'}):
            dest, n = build_dataset(args.camvid, os.path.join(ROOT, '.gpudata'),
                                    workers=args.workers, **kw)
            print(f'{dest}: {n} image/label pairs, {os.path.getsize(dest) / 2 ** 20:.1f} MiB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
