"""Checkpoints of a GP run: the state's arrays as `.npz` plus a JSON header (no pickle).

Written after every generation to `<run>/checkpoint/` (atomically: temporary files, then
rename), so an interrupted run continues with `--resume` and ends bit for bit where an
uninterrupted run with the same seed would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from plants import UserInputError

from ._config import GPConfig
from ._evolve import GPState

FORMAT = "symctl.gp.checkpoint"
VERSION = 1


def save(state: GPState, folder: str | Path, **extra) -> Path:
    folder = Path(folder) / "checkpoint"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in state.arrays.items()}
    tmp = folder / "state.tmp.npz"
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    header = {"format": FORMAT, "version": VERSION, "generation": state.generation, "config": state.config.to_dict(),
              "history": list(state.history), **extra}
    tmp_json = folder / "state.tmp.json"
    tmp_json.write_text(json.dumps(header, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "state.npz")
    os.replace(tmp_json, folder / "state.json")
    return folder


def exists(folder: str | Path) -> bool:
    folder = Path(folder) / "checkpoint"
    return (folder / "state.npz").exists() and (folder / "state.json").exists()


def load(folder: str | Path) -> tuple[GPState, dict]:
    from synth._runfolder import RunFolderError

    folder = Path(folder) / "checkpoint"
    try:
        header = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        with np.load(folder / "state.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise RunFolderError(f"cannot read the checkpoint in {str(folder)!r} ({err}); run without --resume to start afresh") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise RunFolderError(f"{str(folder)!r} holds no symctl GP checkpoint of version {VERSION}; run without --resume")
    try:  # settings this version does not know (or no longer offers) are refused, with the reason
        config = GPConfig.from_dict(header["config"])
    except UserInputError as err:
        raise RunFolderError(f"the checkpoint in {str(folder)!r} cannot be continued by this version ({err}); "
                             "run without --resume to start afresh") from None
    state = GPState(config, arrays, tuple(header.get("history", ())))
    return state, header
