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

"""ament_pep257 docstring conventions over the package sources."""

import os

import pytest

ament_pep257 = pytest.importorskip('ament_pep257.main')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    paths = [os.path.join(ROOT, p) for p in ('segnet_ros', 'launch', 'benchmarks')
             if os.path.exists(os.path.join(ROOT, p))]
    rc = ament_pep257.main(argv=paths)
    assert rc == 0, 'Found code style errors / warnings'
