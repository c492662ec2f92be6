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

"""Sphinx settings of segnet_ros's documentation; rosdoc2 wraps this file (doc/ is its source)."""

# The API pages import segnet_ros as installed (the venv's editable install, or colcon's).
project = 'segnet_ros'
copyright = '2026, segnet_ros contributors'
extensions = ['myst_parser', 'sphinx.ext.autodoc', 'sphinx.ext.napoleon']
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_heading_anchors = 3
exclude_patterns = ['_build', 'generated/*']  # pulled into node.md and launch.md by include
# Offline and reproducible: no intersphinx inventories from docs.ros.org.
rosdoc2_settings = {'enable_intersphinx': False,
                    'automatically_extend_intersphinx_mapping': False,
                    'enable_breathe': False, 'enable_exhale': False}
intersphinx_mapping = {}
autodoc_member_order = 'bysource'
autodoc_typehints = 'none'
html_theme = 'sphinx_rtd_theme'
html_static_path = []
