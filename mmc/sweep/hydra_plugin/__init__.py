"""Installed as `hydra_plugins.mmc_launcher` (pyproject package-dir): Hydra accepts launcher
classes only from the hydra_plugins namespace. The code lives in mmc.sweep.launcher."""
