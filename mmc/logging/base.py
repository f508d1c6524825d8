"""Experiment-logger interface (`logger=<name>`). Local files are written regardless."""

from __future__ import annotations

from pathlib import Path


class ExperimentLogger:
    def start(
        self,
        config: dict,
        run_dir: Path,
        name: str,
        tags: list[str],
        group: str | None = None,
        choices: dict[str, str] | None = None,
    ) -> None:
        """Open the run; called once before training (again with the same dir on resume).

        `choices` are the config-group options in words ({"dataset": "synthetic", ...})."""

    def log(self, metrics: dict[str, float], epoch: int) -> None:
        """One epoch's scalars; `epoch` is the step axis."""

    def log_table(self, key: str, columns: list[str], rows: list[list]) -> None:
        """A small table (e.g. final per-modality contributions)."""

    def log_image(self, key: str, image, epoch: int) -> None:
        """An RGB uint8 array [H, W, 3] (e.g. a learned similarity matrix)."""

    def summary(self, values: dict) -> None:
        """Final values of the run (best epoch, test metrics, collapse numbers)."""

    def finish(self, exit_code: int = 0) -> None:
        """Always called, also when the job fails."""


class NullLogger(ExperimentLogger):
    """`logger=none`."""
