"""Plain log lines for runs nobody watches in a terminal (SLURM, nohup, `> file`), and
progress with ETA for long loops.

A progress bar is invisible there, so a run that prints nothing between its start and its
summary looks hung. When stdout is not a terminal, one INFO line per epoch (loss, monitored
validation metric, fused effective rank, ETA) and one per phase reach the console and, under
Hydra, the job's train.log.
"""

from __future__ import annotations

import logging
import math
import sys
import time

from tqdm import tqdm

log = logging.getLogger("mmc")


def unattended() -> bool:
    """True when stdout is not a terminal (a progress bar would not be seen)."""
    try:
        return not sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return True


def phase(what: str, *args: object) -> None:
    """One line when a run enters a phase (unimodal baselines, KD pretraining, ...)."""
    if unattended():
        log.info("phase: " + what, *args)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class EpochLog:
    """`epoch 3/60  loss 0.4120  val/accuracy 0.8810  rank 11.3  0.4s/epoch  ETA 0m23s`."""

    def __init__(self, start_epoch: int, epochs: int, monitor: str, what: str = "epoch"):
        self.enabled = unattended()
        self.start, self.epochs, self.monitor, self.what = start_epoch, epochs, monitor, what
        self.t0 = time.perf_counter()

    def __call__(self, epoch: int, record: dict) -> None:
        if not self.enabled:
            return
        done = epoch + 1 - self.start
        per_epoch = (time.perf_counter() - self.t0) / max(done, 1)
        parts = [f"{self.what} {epoch + 1}/{self.epochs}"]
        if "loss/total" in record:
            parts.append(f"loss {record['loss/total']:.4f}")
        value = record.get(f"val/{self.monitor}")
        if value is not None:
            parts.append(f"val/{self.monitor} {value:.4f}")
        rank = record.get("rank/fused/effective")
        if rank is not None:
            parts.append(f"rank {rank:.1f}")
        parts.append(f"{per_epoch:.1f}s/epoch")
        parts.append(f"ETA {_duration(per_epoch * (self.epochs - epoch - 1))}")
        log.info("  ".join(parts))


def to_log_files(text: str) -> None:
    """Append text to the log files (Hydra's train.log) without echoing it on the console."""
    record = logging.LogRecord("mmc", logging.INFO, __file__, 0, "%s", (text,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


class Progress:
    """Progress with ETA for long loops (experts, distillation, feature extraction): a tqdm
    bar on a terminal; off one, a log line every `every` steps and at the end."""

    def __init__(
        self, total: int, desc: str, unit: str = "it", every: int = 100, enabled: bool = True
    ) -> None:
        self.total, self.desc, self.unit, self.every = int(total), desc, unit, max(1, int(every))
        self.n, self.t0, self.enabled = 0, time.perf_counter(), enabled and total > 0
        tty = sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=desc, unit=unit) if self.enabled and tty else None
        self.lines: list[str] = []  # what was logged (tests read it)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        rate = self.n / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 else float("nan")
        pct = 100.0 * self.n / max(self.total, 1)
        return (
            f"{self.desc}: {self.n}/{self.total} {self.unit} ({pct:.0f}%), "
            f"{_duration(elapsed)} elapsed, {rate:.2f} {self.unit}/s, ETA {_duration(eta)}"
        )

    def step(self, n: int = 1) -> None:
        self.n += n
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
        elif self.n % self.every == 0 or self.n == self.total:
            text = self.line()
            self.lines.append(text)
            log.info(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
