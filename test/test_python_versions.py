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

"""The code stays valid on Humble's Python (3.10), checked by vermin from the sources."""

import os
import subprocess
import sys

import pytest

pytest.importorskip('vermin')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATHS = ['segnet_ros', 'test', 'launch', 'benchmarks', 'scripts', 'setup.py']
OLDEST = '3.10'  # Humble on Ubuntu 22.04; Jazzy runs 3.12, the PyPI wheels 3.11


@pytest.mark.linter
def test_sources_run_on_the_oldest_supported_python():
    paths = [os.path.join(ROOT, p) for p in PATHS if os.path.exists(os.path.join(ROOT, p))]
    cli = 'import sys; from vermin.main import main; sys.argv[0] = "vermin"; sys.exit(main())'
    out = subprocess.run([sys.executable, '-c', cli, f'--target={OLDEST}-', '--violations',
                          '--no-tips', '--eval-annotations', *paths],
                         capture_output=True, text=True)
    assert out.returncode == 0, f'needs a Python newer than {OLDEST}:\n{out.stdout}{out.stderr}'
