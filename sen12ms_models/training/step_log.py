"""Plain progress lines for runs whose output is not a terminal (batch jobs, SLURM logs).

A tqdm bar redraws itself with carriage returns, which a log file shows as one endless line,
and tqdm turns itself off when stderr is not a terminal, leaving a long run silent. There,
``StepLog`` writes one line every ``every`` steps instead: position, loss, images per second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def wants_log_lines(every: int, is_main: bool, progress: bool | None) -> bool:
    """Log lines on rank 0 when ``every`` > 0, stderr is not a terminal and no bar was forced on."""
    return is_main and every > 0 and progress is not True and not sys.stderr.isatty()


class StepLog:
    """Writes ``<label> step k/total: <losses>, N images/s`` to stderr every ``every`` steps."""

    def __init__(self, label: str, total: int, every: int, images_per_step: int, enabled: bool) -> None:
        self.label, self.total, self.every = label, total, every
        self.images_per_step, self.enabled = images_per_step, enabled
        self.since, self.steps = time.perf_counter(), 0

    def step(self, position: int, losses: Callable[[], str]) -> None:
        """Count a step at ``position`` (1-based within the epoch); ``losses`` is read only when a line is due."""
        self.steps += 1
        if not self.enabled or position % self.every:
            return
        now = time.perf_counter()
        rate = self.steps * self.images_per_step / max(now - self.since, 1e-9)
        print(f"{self.label} step {position}/{self.total}: loss {losses()}, {rate:.1f} images/s", file=sys.stderr)
        sys.stderr.flush()
        self.since, self.steps = now, 0
