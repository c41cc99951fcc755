"""Progress of work a person waits for: a tqdm bar on a terminal, plain log lines elsewhere.

A log file (a batch job, a SLURM log) would show a bar's carriage returns as one endless line, so
off a terminal ``Progress`` logs ``<desc> <unit> k/total: <postfix>, <rate> <rate unit>/s`` on the
``sen12ms_models`` logger every ``log_every`` steps or every 30 seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from tqdm.auto import tqdm

logger = logging.getLogger("sen12ms_models")
#: Seconds between log lines when ``log_every`` is not given.
LOG_SECONDS = 30.0


class Progress:
    """Progress over ``total`` steps of ``unit`` (``initial`` done): ``enabled`` ``True`` a bar, ``False``
    nothing, ``None`` a bar on a terminal, else log lines every ``log_every`` steps (0: 30 s) with the
    rate of ``per_step`` ``rate_unit`` (default ``unit``) a step."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        *,
        enabled: bool | None = None,
        log_every: int = 0,
        per_step: int = 1,
        rate_unit: str | None = None,
        initial: int = 0,
    ) -> None:
        terminal = sys.stderr.isatty()
        shown = enabled or (enabled is None and terminal)
        self.bar = tqdm(total=total, desc=desc, unit=unit, initial=initial) if shown else None
        self.logs = enabled is None and not terminal
        self.total, self.desc, self.unit, self.log_every = total, desc, unit, log_every
        self.per_step, self.rate_unit = per_step, rate_unit or unit
        self.done, self.since, self.steps = initial, time.perf_counter(), 0

    def update(self, steps: int = 1, postfix: Callable[[], str] | None = None) -> None:
        """Count ``steps`` done; ``postfix`` (e.g. the running loss) is computed only when shown."""
        self.done += steps
        self.steps += steps
        if self.bar is not None:
            self.bar.update(steps)
            if postfix is not None and self.done % 25 == 0:
                self.bar.set_postfix_str(postfix(), refresh=False)
            return
        now = time.perf_counter()
        due = self.done % self.log_every < steps if self.log_every else now - self.since >= LOG_SECONDS
        if self.logs and due:
            rate = self.steps * self.per_step / max(now - self.since, 1e-9)
            shown = f": {postfix()}" if postfix is not None else ""
            logger.info(f"{self.desc} {self.unit} {self.done}/{self.total}{shown}, {rate:.1f} {self.rate_unit}/s")
            self.since, self.steps = now, 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
