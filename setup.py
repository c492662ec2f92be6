"""Install segnet_ros as an ament_python package (colcon) or a plain pip package."""

from glob import glob
import os

from setuptools import find_packages
from setuptools import setup

package_name = 'segnet_ros'


def files(pattern):
    """Return the files matching ``pattern`` (no folders)."""
    return [f for f in glob(pattern) if os.path.isfile(f)]


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', files('launch/*.py')),
        ('share/' + package_name + '/config', files('config/*.yaml')),
        ('share/' + package_name + '/models', files('models/*')),
        ('share/' + package_name + '/data', files('data/*')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='segnet_ros maintainers',
    maintainer_email='maintainers@segnet-ros.invalid',
    description='SegNet semantic segmentation node, training and rosbag evaluation for ROS 2',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'segnet_node = segnet_ros.node:main',
            'segnet_lifecycle_node = segnet_ros.node:main_lifecycle',
            'segnet_train = segnet_ros.training.train:main',
            'segnet_eval = segnet_ros.training.evaluate:main',
            'segnet_export = segnet_ros.training.export:main',
            'segnet_demo = segnet_ros.demo:main',
            'segnet_bag = segnet_ros.bags.tools:main',
        ],
    },
)
