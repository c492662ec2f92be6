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
A benchmark's table as a documentation page, with where it came from.

Every script in benchmarks/ ends with ``sys.exit(page.run(main))``. When the environment
names a page (``SEGNET_BENCH_PAGE=doc/performance/models.md``, as ``run_all.sh`` and
``gpu_check.sh`` set it), what the script prints is also written there, whole, under a
header line with the command, the date, the machine and the commit, replacing the page's
previous figures (they stay in git history). Without it nothing is written: the tests' smoke
runs never touch the pages.
"""

import datetime
import io
import os
import platform
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Tee(io.TextIOBase):
    """Write to several streams."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


def machine():
    """Return the CPU model and core count, and the GPU's name when torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name'))
    except (OSError, StopIteration):
        pass
    text = f'{cpu}, {os.cpu_count()} cores'
    if 'torch' in sys.modules:
        torch = sys.modules['torch']
        if torch.cuda.is_available():
            text += f', {torch.cuda.get_device_name(0)}'
    return text


def commit():
    """Return the short commit of this tree, '-dirty' when it has uncommitted changes."""
    def git(*args):
        return subprocess.run(['git', '-C', ROOT, *args], capture_output=True,
                              text=True).stdout.strip()
    sha = git('rev-parse', '--short', 'HEAD') or 'unknown'
    return sha + ('-dirty' if git('status', '--porcelain', '--untracked-files=no') else '')


def header(argv=None):
    """Return the provenance line of a page."""
    argv = sys.argv if argv is None else argv
    cmd = ' '.join(shlex.quote(a) for a in [os.path.relpath(argv[0], ROOT), *argv[1:]])
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    return f'`{cmd}` · {now} · {machine()} · commit `{commit()}`'


def run(main):
    """Run ``main()``; with SEGNET_BENCH_PAGE set, write its output as that page."""
    path = os.environ.get('SEGNET_BENCH_PAGE')
    if not path:
        return main()
    out = io.StringIO()
    stdout, sys.stdout = sys.stdout, _Tee(sys.stdout, out)
    try:
        code = main()
    finally:
        sys.stdout = stdout
    if code:
        return code  # a failed run does not replace the figures
    title = (sys.modules['__main__'].__doc__ or '').strip().split('\n')[0].rstrip('.')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(f'# {title}\n\n{header()}\n\n```\n{out.getvalue().rstrip()}\n```\n')
    return 0
