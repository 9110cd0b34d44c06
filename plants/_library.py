"""The built-in tasks: TOML files shipped inside the package, named `<plant>/<variant>`."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from ._model import Task, UserInputError
from ._toml import TaskFileError, _read_toml, did_you_mean
from ._toml_task import load_task

LIBRARY = Path(__file__).parent / "library"

BUILTIN_TASKS: dict[str, str] = {
    "sho/noisy": "sho/noisy.toml",
    "sho/partial": "sho/partial.toml",
    "sho/varying": "sho/varying.toml",
    "acrobot/noisy": "acrobot/noisy.toml",
    "acrobot/partial": "acrobot/partial.toml",
    "acrobot/two-inputs": "acrobot/two-inputs.toml",
    "cstr/varying": "cstr/varying.toml",
    "pendulum/swingup": "pendulum/swingup.toml",
    "mountaincar/continuous": "mountaincar/continuous.toml",
    "cartpole/balance": "cartpole/balance.toml",
}
"""Name of every built-in task and its file under `plants/library/`."""

DEFAULT_TASK = "sho/noisy"


class UnknownTask(UserInputError, LookupError):
    """A task name is neither a built-in task nor an existing TOML file."""


def builtin_tasks() -> list[str]:
    """The names of the built-in tasks."""
    return list(BUILTIN_TASKS)


def task_path(name: str) -> Path:
    """The TOML file of a built-in task name, or `name` itself when it is a path to a file."""
    if name in BUILTIN_TASKS:
        return LIBRARY / BUILTIN_TASKS[name]
    p = Path(name)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise UnknownTask(f"task file {name!r} does not exist")
        return p
    raise UnknownTask(
        f"unknown task {name!r}{did_you_mean(name, list(BUILTIN_TASKS))}; "
        f"built-in tasks: {', '.join(BUILTIN_TASKS)} (or give the path of a .toml file)"
    )


def get_task(name: str | Path | Task) -> Task:
    """A task by built-in name or TOML path (a `Task` is returned unchanged)."""
    if isinstance(name, Task):
        return name
    name = str(name)
    path = task_path(name)
    return load_task(path, name if name in BUILTIN_TASKS else None)


def task_reference(task: Task) -> str:
    """What `get_task` needs to load `task` again: its built-in name, or the path of its file."""
    if task.name in BUILTIN_TASKS and Path(task.source).resolve() == task_path(task.name).resolve():
        return task.name
    if not task.source:
        raise UnknownTask(f"task {task.name!r} was not loaded from a file and is not built in; it cannot be referred to")
    return str(Path(task.source).resolve())


def definition_digest(task: Task) -> str | None:
    """A digest of what the file `task` was loaded from defines: its task table with the plant
    (inline, or the plant file it names) after normalising away what does not change the
    definition: comments, layout and key order, whitespace inside strings, integers written as
    floats, the plant's and task's `name`, every `description`. So a copy of a task file, renamed
    or re-commented, has the digest of the original. None for a task not loaded from a file."""
    return _file_digest(Path(task.source)) if task.source else None


def _file_digest(path: Path) -> str | None:
    try:
        doc = _read_toml(path)
        t = dict(doc.get("task", {}))
        ref = t.pop("plant", None)
        plant = doc.get("plant") or (_read_toml(path.parent / ref).get("plant") if isinstance(ref, str) else None)
    except TaskFileError:
        return None
    plant = dict(plant or {})
    for table in (t, plant):
        table.pop("name", None)
    text = json.dumps(_normalised({"plant": plant, "task": t}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, str):
        return "".join(value.split())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return str(value) if not isinstance(value, bool) else value


@functools.cache
def _builtin_digests() -> dict[str, str]:
    return {_file_digest(task_path(name)): name for name in BUILTIN_TASKS}


def builtin_equivalent(task: Task) -> str | None:
    """The name of the built-in task whose definition is `task`'s (`definition_digest`: the same
    plant and task, whatever the file's name, comments or layout), or None."""
    digest = definition_digest(task)
    return None if digest is None else _builtin_digests().get(digest)


__all__ = [
    "BUILTIN_TASKS",
    "builtin_equivalent",
    "definition_digest",
    "task_reference",
    "DEFAULT_TASK",
    "TaskFileError",
    "UnknownTask",
    "builtin_tasks",
    "get_task",
    "task_path",
]
