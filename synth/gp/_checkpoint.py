"""Checkpoints of a GP run, in the format every method shares (`synth._checkpoint`: the state's
arrays and a JSON header that names the format and its version).

Written after every generation to `<run>/checkpoint/`, so an interrupted run continues with
`--resume` and ends bit for bit where an uninterrupted run with the same seed would.
"""

from __future__ import annotations

from pathlib import Path

from plants import UserInputError
from synth import _checkpoint
from synth._runfolder import RunFolderError

from ._config import GPConfig
from ._evolve import GPState

FORMAT = "symctl.gp.checkpoint"
VERSION = 1


def save(state: GPState, folder: str | Path, fmt: str = FORMAT, **extra) -> Path:
    """Checkpoint `state` in the run folder `folder` (`fmt`: the format name, GP's or random search's)."""
    header = {"generation": state.generation, "config": state.config.to_dict(), "history": list(state.history), **extra}
    return _checkpoint.save(Path(folder) / "checkpoint", fmt, VERSION, state.arrays, header)


def exists(folder: str | Path) -> bool:
    return _checkpoint.exists(Path(folder) / "checkpoint")


def load(folder: str | Path, fmt: str = FORMAT) -> tuple[GPState, dict]:
    """The state checkpointed in the run folder `folder`, and the checkpoint's header."""
    folder = Path(folder) / "checkpoint"
    arrays, header = _checkpoint.load(folder, fmt, VERSION)
    try:  # settings this version does not know (or no longer offers) are refused, with the reason
        config = GPConfig.from_dict(header["config"])
    except UserInputError as err:
        raise RunFolderError(
            f"the checkpoint in {str(folder)!r} cannot be continued by this version ({err}); run without --resume to start afresh"
        ) from None
    state = GPState(config, arrays, tuple(header.get("history", ())))
    return state, header
