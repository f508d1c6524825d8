# Package discovery lives here only because pyproject's `packages.find` cannot also list the
# remapped package `mmc.conf` (top-level conf/, see package-dir in pyproject.toml).
from setuptools import find_packages, setup

setup(packages=find_packages(include=["mmc", "mmc.*"]) + ["mmc.conf"])
