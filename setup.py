"""Install segnet_ros as an ament_python package (colcon) or a plain pip package."""

import os

from setuptools import find_packages
from setuptools import setup

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


setup(
    name=package_name,
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
    entry_points={
        'console_scripts': [
            # Through segnet_ros.ros.entry: the signal handlers go in before torch is imported.
            f'{name} = segnet_ros.ros.entry:{name}' for name in (
                'segnet_node', 'segnet_lifecycle_node', 'segnet_cloud_node', 'segnet_train',
                'segnet_eval', 'segnet_export', 'segnet_demo', 'segnet_bag')
        ],
    },
)
