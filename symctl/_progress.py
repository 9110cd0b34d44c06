"""The CLI's progress display: rich bars with an ETA on stderr, and the per-record lines of `--verbose`.

The library reports and never draws: a synthesis method calls `progress(record)` with a dict per
generation (GP: `generation`) or iteration (ESPL: `stage` "train" or "finetune", `iteration`), with
`total` the count the stage runs to; `validation.validate` calls `progress(stage, fraction)` between
its stages. `ProgressDisplay` turns both into one bar per stage: generations or iterations done of
`total` with the time left, the validation stages as a fraction. With `verbose` it also prints each
synthesis record as one line (the display `symctl synth` and `symctl run` had before the bars);
with `bars=False` only those lines.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console

# Record keys that are not figures to show on a verbose line.
_HIDDEN = ("total",)


def record_line(record: dict[str, Any]) -> str:
    """One synthesis record as one line: `generation 3/50  best_cost 0.41  ...`."""
    parts = []
    total = record.get("total")
    for k, v in record.items():
        if k in _HIDDEN:
            continue
        if k in ("generation", "iteration") and total is not None:
            parts.append(f"{k} {v}/{total}")
        else:
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


def _bar_name(record: dict[str, Any]) -> tuple[str, str]:
    """The bar a synthesis record belongs to (key, label) and the count key it advances."""
    stage = record.get("stage")
    if "generation" in record:
        return "generations", "synthesis: generations"
    label = {"train": "synthesis: training", "finetune": "synthesis: tuning constants"}.get(
        stage, f"synthesis: {stage or 'iterations'}"
    )
    restart = record.get("restart")
    if restart is not None:
        label += f" (restart {restart})"
    return f"{stage}-{restart}", label


def _figure(record: dict[str, Any]) -> str:
    """The cost to show beside a synthesis bar: the best so far where the record has it."""
    for key in ("best_cost", "best", "validation_cost", "train_cost"):
        v = record.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v):
            return f"{key.replace('_', ' ')} {v:.4g}"
    return ""


class ProgressDisplay:
    """Progress bars (and, with `verbose`, lines) for the synthesis and validation callbacks.

    Use as a context manager; `record` is the synthesis callback, `stage` the validation callback,
    `say` prints a message above the bars. Everything goes to `console` (stderr).
    """

    def __init__(self, console: Console, *, verbose: bool = False, bars: bool = True):
        self.console = console
        self.verbose = verbose
        self._progress = None
        self._bars: dict[str, Any] = {}
        self._since = 0.0
        if bars:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[figure]}"),
                console=console,
            )

    def __enter__(self) -> ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
            self._since = self._progress.get_time()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def say(self, message: str) -> None:
        self.console.print(message, markup=False, soft_wrap=True)

    def record(self, record: dict[str, Any]) -> None:
        """The synthesis callback: advance the record's bar; print its line when verbose."""
        if self.verbose:
            self.console.print(record_line(record), markup=False, soft_wrap=True)
        if self._progress is None:
            return
        key, label = _bar_name(record)
        done = record.get("generation", record.get("iteration"))
        total = record.get("total")
        count = f"{done}/{total}" if total is not None else f"{done}"
        self._update(key, label, done, total, count=count, figure=_figure(record))

    def stage(self, name: str, fraction: float) -> None:
        """The validation callback: the validation bar at `fraction`, named for the stage running."""
        if self.verbose:
            self.console.print(f"  {name}", markup=False)
        if self._progress is not None:
            self._update("validation", f"validation: {name}", fraction, 1.0, count=f"{fraction:.0%}", figure="")

    def _update(self, key: str, label: str, done, total, **fields: str) -> None:
        progress = self._progress
        if key not in self._bars:
            self._bars[key] = progress.add_task(label, total=total, **fields)
            # A stage's first record comes when its first step is done (GP: the initial population,
            # compilation included): its clock starts where the previous activity ended.
            progress.tasks[-1].start_time = self._since
        progress.update(self._bars[key], description=label, completed=done or 0, total=total, **fields)
        self._since = progress.get_time()
