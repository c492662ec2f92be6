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

"""Copyright and licence headers: ament_copyright where installed, and our own check."""

import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = '# Copyright 2026 segnet_ros contributors'
LICENSE = '# Licensed under the Apache License, Version 2.0'


def _sources():
    files = []
    for folder in ('segnet_ros', 'test', 'launch', 'benchmarks'):
        files += glob.glob(os.path.join(ROOT, folder, '**', '*.py'), recursive=True)
    return sorted(files)


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright_ament():
    ament_copyright = pytest.importorskip(
        'ament_copyright.main', reason='ament_copyright is not installable from PyPI; '
        'test_headers covers the same rule here')
    rc = ament_copyright.main(argv=['segnet_ros', 'test', 'launch'])
    assert rc == 0, 'Found errors'


@pytest.mark.copyright
@pytest.mark.linter
def test_headers():
    missing = []
    for path in _sources():
        with open(path) as f:
            head = f.read(800)
        if HEADER not in head or LICENSE not in head:
            missing.append(os.path.relpath(path, ROOT))
    assert _sources(), 'no sources found'
    assert not missing, f'files without the Apache-2.0 copyright header: {missing}'
