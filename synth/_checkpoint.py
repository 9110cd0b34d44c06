"""Checkpoints of a synthesis run: its state's arrays as `state.npz` and a JSON header as
`state.json`, in a folder of the run (`checkpoint/`; docs/design.md, the run folder). No pickle.

The header names the method's format and its version, and `load` refuses any other with one line
that names the file, the version found, the version read and the way out. Both files are written
under temporary names and then renamed, so a run stopped mid-write leaves whole files. The header
keeps non-finite floats as Python's `json` writes them (`NaN`, `Infinity`): only symctl reads it,
and a resumed run must see its numbers exactly as they were (results for other readers go through
`synth._json.jsonable` instead).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._runfolder import RunFolderError

ARRAYS, HEADER = "state.npz", "state.json"


def save(folder: str | Path, fmt: str, version: int, arrays: dict[str, Any], header: dict[str, Any]) -> Path:
    """Write `arrays` and `header` (with "format": `fmt`, "version": `version`) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "state.tmp.npz"
    with open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    tmp_json = folder / "state.tmp.json"
    tmp_json.write_text(
        json.dumps({"format": fmt, "version": version, **header}, indent=1, default=float) + "\n", encoding="utf-8"
    )
    os.replace(tmp, folder / ARRAYS)
    os.replace(tmp_json, folder / HEADER)
    return folder


def exists(folder: str | Path) -> bool:
    """Whether `folder` holds a checkpoint (both of its files)."""
    return (Path(folder) / ARRAYS).is_file() and (Path(folder) / HEADER).is_file()


def load(folder: str | Path, fmt: str, version: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the header of the checkpoint in `folder`, which must be of format `fmt` and
    version `version`; RunFolderError otherwise, or when it cannot be read."""
    folder = Path(folder)
    path = folder / HEADER
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
        with open(folder / ARRAYS, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # (fh: closed when np.load fails too)
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise RunFolderError(
            f"cannot read the checkpoint in {str(folder)!r} ({err}); run without --resume to start afresh"
        ) from None
    found = header.get("format") if isinstance(header, dict) else None
    if found != fmt:
        what = f"format {found!r}" if found else "no format, as symctl wrote before checkpoints had versions"
        raise RunFolderError(f"{str(path)!r} is not a {fmt!r} checkpoint (it names {what}); run without --resume to start afresh")
    if header.get("version") != version:
        raise RunFolderError(
            f"{str(path)!r} is a {fmt!r} checkpoint of version {header.get('version')!r}, and this symctl reads "
            f"version {version}; run without --resume to start afresh, or continue with the symctl that wrote it"
        )
    return arrays, header
