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

"""ament_flake8 over the package sources (the standard ROS 2 Python lint test)."""

import os

import pytest

ament_flake8 = pytest.importorskip('ament_flake8.main')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATHS = ['segnet_ros', 'test', 'launch', 'benchmarks', 'setup.py']


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    paths = [os.path.join(ROOT, p) for p in PATHS if os.path.exists(os.path.join(ROOT, p))]
    rc, errors = ament_flake8.main_with_errors(argv=['--linelength', '99', *paths])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
