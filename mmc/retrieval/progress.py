"""Progress with ETA for long loops (experts, distillation, feature extraction).

On a terminal: a tqdm bar. Off a terminal (SLURM logs, background runs): a log line every
`every` steps and at the end, with the rate and the estimated time left, so a log file
shows where a run is without carriage-return noise.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("mmc")


def _fmt(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
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
        eta_s = _fmt(eta) if eta == eta else "?"
        return (
            f"{self.desc}: {self.n}/{self.total} {self.unit} ({pct:.0f}%), "
            f"{_fmt(elapsed)} elapsed, {rate:.2f} {self.unit}/s, ETA {eta_s}"
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
