"""Install segnet_ros as an ament_python package (colcon) or a plain pip package."""

import os

from setuptools import find_packages
from setuptools import setup
# After setuptools, which provides distutils on Python 3.12+.
from distutils.command.build_scripts import build_scripts  # noqa: I100,I201

package_name = 'segnet_ros'
# Installed as share/segnet_ros/<folder>/... (scripts/register_ament.py mirrors this for .venv).
SHARED_FOLDERS = ('launch', 'config', 'models', 'data')


def tree(folder):
    """
    Return data_files entries installing ``folder`` (recursively) under share/segnet_ros.

    Every file the node, the tools and the launch files open by path lives in one of these
    folders; a glob of one level missed the sample bag's folder once.
    """
    entries = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in sorted(names):
            if name.endswith('.pyc'):
                continue
            entries.setdefault(os.path.join('share', package_name, root), []).append(
                os.path.join(root, name))
    return sorted(entries.items())


class BuildScripts(build_scripts):
    """
    Give the executables the interpreter that builds them, as colcon's ROS packages have.

    Newer setuptools writes ``#!python`` and leaves the rewrite to pip, but ``setup.py
    install`` (colcon) rewrites nothing, and ``#!python`` does not run. ``self.executable`` is
    this interpreter, or ``python`` when building a wheel (pip then rewrites it).
    """

    def run(self):
        super().run()
        for script in self.scripts or ():
            path = os.path.join(self.build_dir, os.path.basename(script))
            with open(path) as f:
                lines = f.readlines()
            if lines and (lines[0] == '#!python\n' or lines[0].startswith('#!python ')):
                lines[0] = '#!' + self.executable + lines[0][len('#!python'):]
                with open(path, 'w') as f:
                    f.writelines(lines)


setup(
    name=package_name,
    cmdclass={'build_scripts': BuildScripts},
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        *(entry for folder in SHARED_FOLDERS for entry in tree(folder)),
    ],
    install_requires=['setuptools'],
    extras_require={'test': ['pytest']},  # colcon test runs pytest (not unittest) for it
    zip_safe=True,
    maintainer='segnet_ros maintainers',
    maintainer_email='maintainers@segnet-ros.invalid',
    description='SegNet semantic segmentation node, training and rosbag evaluation for ROS 2',
    license='Apache-2.0',
    # Executables (lib/segnet_ros/ under colcon, .venv/bin/ in the venv): tiny scripts that
    # install the signal handlers before importing anything (bin/*; segnet_ros.ros.entry).
    scripts=[os.path.join('bin', name) for name in sorted(os.listdir(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bin')))],
)
