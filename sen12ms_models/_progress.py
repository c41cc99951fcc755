"""Progress of work a person waits for: a tqdm bar on a terminal, plain log lines elsewhere.

A bar redraws itself with carriage returns, which a log file (a batch job, a SLURM log) shows as
one endless line. When stderr is not a terminal, ``Progress`` logs a line on the
``sen12ms_models`` logger instead, every ``log_every`` steps or, by default, every 30 seconds:
``<desc> <unit> k/total: <postfix>, <rate> <rate unit>/s``. The command line shows these lines;
a program sees them once it configures ``logging``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType

from tqdm.auto import tqdm

logger = logging.getLogger("sen12ms_models")
#: Seconds between log lines when ``log_every`` is not given.
LOG_SECONDS = 30.0


class Progress:
    """Progress over ``total`` steps.

    Args:
        total: the number of steps.
        desc: what is being done (``"predict"``, ``"epoch 3/100"``).
        unit: the name of one step.
        enabled: ``True`` a bar, ``False`` nothing, ``None`` a bar on a terminal, log lines elsewhere.
        log_every: log a line every this many steps (0: every 30 s).
        per_step: items per step, for the rate (images per training step).
        rate_unit: the items' name in the rate (default: ``unit``).
        initial: steps already done (a resumed run).
    """

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
        self.bar = (
            tqdm(total=total, desc=desc, unit=unit, initial=initial)
            if enabled or (enabled is None and terminal)
            else None
        )
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

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
