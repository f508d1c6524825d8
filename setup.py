# Package discovery lives here only because pyproject's `packages.find` cannot also list the
# remapped package `mmc.conf` (top-level conf/, see package-dir in pyproject.toml). Its config
# group folders are listed as packages too, so setuptools ships their YAML files as data.
from setuptools import find_namespace_packages, find_packages, setup

conf_groups = [
    f"mmc.conf.{name}"
    for name in find_namespace_packages(where="conf", exclude=["*__pycache__*"])
]
setup(
    packages=find_packages(include=["mmc", "mmc.*"], exclude=["mmc.sweep.hydra_plugin"])
    + ["mmc.conf", *conf_groups, "hydra_plugins.mmc_launcher"]
)
