from glob import glob

from setuptools import find_packages, setup

package_name = "rman_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, package_name + ".*"]),
    package_data={package_name: ["bench/data/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/config/presets", glob("config/presets/*.yaml")),
        ("share/" + package_name + "/config/fastdds", glob("config/fastdds/*.xml")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="rman_ros developers",
    maintainer_email="dev@rman-ros.local",
    description="RMAN visual tracker (TIP 2020) as a ROS 2 node, with benchmark and bag tools.",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "tracker_node = rman_ros.ros.tracker_node:main",
            "follow_node = rman_ros.follow.follow_node:main",
            "rman_bag = rman_ros.bag.__main__:main",
            "rman_demo = rman_ros.demo:main",
            "rman_bench = rman_ros.bench.__main__:main",
            "rman_track = rman_ros.track:main",
        ],
    },
)
