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
Fast DDS settings that are in effect on every distro, observed from outside the node.

The rules are checked on made-up library folders (Fast DDS 2.x and 3.x); the node tests run
under whichever distro's wheels this venv has (CI runs them under Kilted and under Jazzy) and
read the shared-memory segment the node's participant owns: 549,408 bytes with Fast DDS's
defaults, 35,127,840 with the bundled profile's 32 MB segment.
"""

import os
import time

import pytest
from segnet_ros import dds
from segnet_ros.paths import share_path

PROFILE = share_path(*dds.BUNDLED_PROFILE)
LARGE = 32 * 1024 * 1024   # the bundled profile's segment_size; the file is a little larger
DEFAULT = 1024 * 1024      # Fast DDS's default segment (512 KB) is well below this


def libdir(tmp_path, *names):
    d = tmp_path / 'lib'
    d.mkdir()
    for n in names:
        (d / n).write_bytes(b'')
    return {'LD_LIBRARY_PATH': str(d)}


FAST2 = ('libfastrtps.so', 'libfastrtps.so.2.14', 'libfastrtps.so.2.14.5', 'libfastcdr.so.2')
FAST3 = ('libfastdds.so', 'libfastdds.so.3.2', 'libfastdds.so.3.2.2')


def test_version_is_read_from_the_library_the_loader_finds(tmp_path):
    assert dds.fastdds_version(libdir(tmp_path, *FAST2)) == (2, 14, 5)
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'libfastdds.so.3.2.2').write_bytes(b'')
    env = {'LD_LIBRARY_PATH': f'{tmp_path / "other"}:{tmp_path / "lib"}'}
    assert dds.fastdds_version(env) == (3, 2, 2)  # the first folder on the path wins
    assert dds.fastdds_major({'LD_LIBRARY_PATH': str(tmp_path / 'lib')}) == 2
    # AMENT_PREFIX_PATH/lib is searched too (a ROS install whose lib is not on the path).
    assert dds.fastdds_version({'AMENT_PREFIX_PATH': str(tmp_path)}) == (2, 14, 5)


def test_the_bundled_profile_goes_under_the_name_the_installed_fast_dds_reads(tmp_path):
    for files, variable in ((FAST2, 'FASTRTPS_DEFAULT_PROFILES_FILE'),
                            (FAST3, 'FASTDDS_DEFAULT_PROFILES_FILE')):
        d = tmp_path / variable
        d.mkdir()
        env = libdir(d, *files)
        s = dds.use_large_image_transport(env)
        assert env[variable] == PROFILE
        assert [k for k in dds.PROFILE_VARIABLES if k in env] == [variable]
        assert (s.profile, s.variable, s.ignored) == (PROFILE, variable, [])
        assert f'profile {PROFILE} in effect ({variable})' in dds.describe(s)
        # ROS_DISTRO does not decide: a venv user does not set it, a Jazzy user may.
        env = {'LD_LIBRARY_PATH': str(d / 'lib'),
               'ROS_DISTRO': 'humble' if variable.startswith('FASTDDS') else 'kilted'}
        dds.use_large_image_transport(env)
        assert env[variable] == PROFILE


def test_a_profile_under_the_ignored_name_is_reported_as_not_in_effect(tmp_path):
    env = {**libdir(tmp_path, *FAST2), 'FASTDDS_DEFAULT_PROFILES_FILE': PROFILE}
    s = dds.use_large_image_transport(env)
    assert 'FASTRTPS_DEFAULT_PROFILES_FILE' not in env  # the user's choice is left alone
    assert s.profile is None and s.ignored == [('FASTDDS_DEFAULT_PROFILES_FILE', PROFILE)]
    line = dds.describe(s, 549408)
    assert 'no profile in effect (Fast DDS defaults)' in line
    assert f'IGNORED: FASTDDS_DEFAULT_PROFILES_FILE={PROFILE}' in line
    assert 'shared-memory segment 549408 bytes' in line
    warning = dds.ignored_warning(s)
    assert 'ignored by the installed Fast DDS 2.x' in warning
    assert f'export FASTRTPS_DEFAULT_PROFILES_FILE={PROFILE}' in warning


def test_fast_dds_3_reads_both_names():
    assert dds.read_variables(3) == ('FASTDDS_DEFAULT_PROFILES_FILE',
                                     'FASTRTPS_DEFAULT_PROFILES_FILE')
    assert dds.read_variables(2) == ('FASTRTPS_DEFAULT_PROFILES_FILE',)


def test_other_middlewares_get_no_profile(tmp_path):
    env = {**libdir(tmp_path, *FAST3), 'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp',
           'FASTDDS_DEFAULT_PROFILES_FILE': str(tmp_path / 'missing.xml')}
    s = dds.use_large_image_transport(env)  # not checked: Cyclone never reads it
    assert env['FASTDDS_DEFAULT_PROFILES_FILE'] == str(tmp_path / 'missing.xml')
    assert dds.describe(s) == 'rmw_cyclonedds_cpp, no Fast DDS profile'


@pytest.mark.parametrize('case', ['missing', 'folder', 'not xml', 'not a profile'])
@pytest.mark.parametrize('variable', dds.PROFILE_VARIABLES)
def test_a_bad_profile_file_is_refused_naming_file_and_variable(tmp_path, case, variable):
    path = {'missing': tmp_path / 'nope.xml', 'folder': tmp_path,
            'not xml': tmp_path / 'broken.xml', 'not a profile': tmp_path / 'html.xml'}[case]
    (tmp_path / 'broken.xml').write_text('<profiles><participant>')
    (tmp_path / 'html.xml').write_text('<html/>')
    # Fast DDS 2.x ignores FASTDDS_..., yet a broken file there is a mistake worth stopping.
    env = {**libdir(tmp_path, *FAST2), variable: str(path)}
    with pytest.raises(dds.ProfileError) as e:
        dds.use_large_image_transport(env)
    assert f'{variable}={path}' in str(e.value)
    assert {'missing': 'no such file', 'folder': 'not a regular file', 'not xml': 'not valid XML',
            'not a profile': 'root element <html>'}[case] in str(e.value)


def test_the_export_line_for_a_users_own_processes(tmp_path, monkeypatch, capsys):
    for k in dds.PROFILE_VARIABLES + ('AMENT_PREFIX_PATH',):
        monkeypatch.delenv(k, raising=False)
    for files, variable in ((FAST2, 'FASTRTPS_DEFAULT_PROFILES_FILE'),
                            (FAST3, 'FASTDDS_DEFAULT_PROFILES_FILE')):
        (tmp_path / variable).mkdir()
        monkeypatch.setenv('LD_LIBRARY_PATH', libdir(tmp_path / variable, *files)[
            'LD_LIBRARY_PATH'])
        monkeypatch.setattr(dds.sys, 'prefix', str(tmp_path / 'none'))
        assert dds.main([]) == 0
        assert capsys.readouterr().out == f'export {variable}={PROFILE}\n'
    # --describe: exit 1 when a set profile is ignored (the 3.x name under Fast DDS 2.x).
    monkeypatch.setenv('LD_LIBRARY_PATH', str(tmp_path / 'FASTRTPS_DEFAULT_PROFILES_FILE' / 'lib'))
    monkeypatch.setenv('FASTDDS_DEFAULT_PROFILES_FILE', PROFILE)
    assert dds.main(['--describe']) == 1
    assert 'IGNORED: FASTDDS_DEFAULT_PROFILES_FILE' in capsys.readouterr().out
    monkeypatch.setenv('LD_LIBRARY_PATH', str(tmp_path / 'nothing'))
    monkeypatch.delenv('FASTDDS_DEFAULT_PROFILES_FILE')
    assert dds.main([]) == 1
    assert 'no Fast DDS library' in capsys.readouterr().err


def test_localhost_discovery_as_each_distro_spells_it():
    humble = {'ROS_DISTRO': 'humble'}
    dds.confine_to_localhost(humble)
    assert humble == {'ROS_DISTRO': 'humble', 'ROS_LOCALHOST_ONLY': '1'}
    for distro in ('jazzy', 'kilted', None):
        env = {'ROS_DISTRO': distro} if distro else {}
        dds.confine_to_localhost(env)
        assert env.get('ROS_AUTOMATIC_DISCOVERY_RANGE') == 'LOCALHOST'
        assert 'ROS_LOCALHOST_ONLY' not in env


# --- the node, under the distro this venv runs ---------------------------------------------

def _env(**profile):
    env = {k: v for k, v in os.environ.items() if k not in dds.PROFILE_VARIABLES}
    env.update(profile)
    return env


def _ready(node, timeout=120):
    deadline = time.monotonic() + timeout
    while 'ready: model' not in node.output():
        assert node.alive() and time.monotonic() < deadline, node.output()
        time.sleep(0.1)
    return next(ln for ln in node.output().splitlines() if 'ready: model' in ln)


@pytest.mark.ros
def test_the_node_runs_with_the_large_segment_and_says_so(start, models, driver):
    node = start({'model_path': models['a']}, env=_env())
    ready = _ready(node)
    segment = dds.shm_segment_bytes(node.pid)  # observed from this process, not reported
    assert segment is not None and segment >= LARGE, (segment, ready)
    variable = dds.read_variables(dds.fastdds_major())[0]
    assert f'profile {PROFILE} in effect ({variable})' in ready, ready
    assert f'shared-memory segment {segment} bytes' in ready, ready
    driver.record_diagnostics()
    values = driver.wait_for(lambda: driver.latest_diagnostics(node.name), timeout=30)
    assert values['dds_profile'] == PROFILE and values['dds_shm_segment_bytes'] == str(segment)
    assert 'in effect' in values['dds']


@pytest.mark.ros
def test_a_profile_the_installed_fast_dds_ignores_is_not_in_effect(start, models):
    major = dds.fastdds_major()
    if major is not None and major < 3:
        # The negative control: the 3.x name under Fast DDS 2.x.
        node = start({'model_path': models['a']},
                     env=_env(FASTDDS_DEFAULT_PROFILES_FILE=PROFILE))
        ready = _ready(node)
        segment = dds.shm_segment_bytes(node.pid)
        assert segment is not None and segment < DEFAULT, (segment, ready)
        assert 'no profile in effect' in ready and 'IGNORED: FASTDDS_DEFAULT_PROFILES_FILE' \
            in ready, ready
        warnings = [ln for ln in node.output().splitlines() if 'is ignored by the installed'
                    in ln]
        assert len(warnings) == 1 and '[WARN]' in warnings[0], node.output()
    else:
        # Fast DDS 3.x ignores neither name: the old one alone is in effect, deprecated.
        node = start({'model_path': models['a']},
                     env=_env(FASTRTPS_DEFAULT_PROFILES_FILE=PROFILE))
        ready = _ready(node)
        segment = dds.shm_segment_bytes(node.pid)
        assert segment is not None and segment >= LARGE, (segment, ready)
        assert 'in effect (FASTRTPS_DEFAULT_PROFILES_FILE, deprecated name)' in ready, ready


@pytest.mark.ros
def test_a_profile_of_the_user_is_the_one_in_effect(start, models, tmp_path):
    # A user's own profile (2 MB segment) under the name this Fast DDS reads: the node keeps
    # it, says so, and the segment shows it is neither ours nor the default.
    own = tmp_path / 'own.xml'
    with open(PROFILE) as f:
        own.write_text(f.read().replace('33554432', str(2 * 1024 * 1024)))
    variable = dds.read_variables(dds.fastdds_major())[0]
    node = start({'model_path': models['a']}, env=_env(**{variable: str(own)}))
    ready = _ready(node)
    segment = dds.shm_segment_bytes(node.pid)
    assert segment is not None and 2 * 1024 * 1024 <= segment < LARGE, (segment, ready)
    assert f'profile {own} in effect ({variable})' in ready, ready


@pytest.mark.ros
def test_a_broken_profile_stops_the_node_with_one_line(start, models, tmp_path):
    broken = tmp_path / 'broken.xml'
    broken.write_text('<profiles>')
    for variable in dds.PROFILE_VARIABLES:
        node = start({'model_path': models['a']}, env=_env(**{variable: str(broken)}))
        assert node.wait_exit(60) == 2, node.output()
        out = node.output()
        assert 'Traceback' not in out, out
        errors = [ln for ln in out.splitlines() if ln.startswith('segnet_node: error:')]
        assert len(errors) == 1 and f'{variable}={broken}' in errors[0], out
        assert 'not valid XML' in errors[0], out
