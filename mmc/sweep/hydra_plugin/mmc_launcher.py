"""mmc's submitit launchers, under the name Hydra requires (see __init__.py)."""

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher

from mmc.sweep.launcher import MmcSubmitit


class MmcSlurmLauncher(MmcSubmitit, SlurmLauncher):
    """hydra/launcher=slurm"""


class MmcLocalLauncher(MmcSubmitit, LocalLauncher):
    """hydra/launcher=local_submitit"""
