"""The built-in tasks: TOML files shipped inside the package, named `<plant>/<variant>`."""

from __future__ import annotations

from pathlib import Path

from ._model import Task, UserInputError
from ._toml import TaskFileError, did_you_mean, load_task

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


__all__ = ["BUILTIN_TASKS", "task_reference", "DEFAULT_TASK", "TaskFileError", "UnknownTask", "builtin_tasks", "get_task", "task_path"]
