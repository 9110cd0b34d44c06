"""Run folders: where a synthesis run writes its artefacts.

Layout (shared by every method): `policy.json`, `config.toml` (the resolved configuration),
`manifest.json` (versions, seed, config hash, timings), and method-specific files
(`history.csv`, `pareto.csv`, checkpoints under `checkpoint/`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import zlib
from importlib import metadata
from pathlib import Path
from typing import Any

import tomli_w

from plants import UserInputError

_PACKAGES = ("symctl", "jax", "jaxlib", "diffrax", "equinox", "optax", "sympy", "control", "slycot", "casadi", "numpy", "scipy")


class RunFolderError(UserInputError):
    """A run folder cannot be created, written or read."""


def cache_dir(kind: str) -> Path | None:
    """The folder of symctl's on-disk cache of `kind` ("jax" compiled programs, "casadi" compiled
    sweep libraries): `$XDG_CACHE_HOME/symctl/<kind>`, else `~/.cache/symctl/<kind>`; None when the
    environment switches caching off with SYMCTL_COMPILE_CACHE=0."""
    if os.environ.get("SYMCTL_COMPILE_CACHE", "1") == "0":
        return None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "symctl" / kind


def default_run_folder(task: str, *labels: object) -> Path:
    """Where a command writes when it is given no --out: `runs/<task>-<label>-...`, the task's name
    with '/' as '-' (`symctl run sho/partial --method gp-d --seed 0`: `runs/sho-partial-gp-d-0`)."""
    return Path("runs") / "-".join([task.replace("/", "-").replace(".toml", ""), *map(str, labels)])


def prepare(out: str | Path) -> Path:
    """Create the run folder `out` (and parents) and check it is writable."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFolderError(f"cannot create run folder {str(out)!r}: {err.strerror}; choose another --out") from None
    if not os.access(out, os.W_OK):
        raise RunFolderError(f"run folder {str(out)!r} is not writable; choose another --out")
    return out


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_config(out: str | Path, config: dict[str, Any]) -> Path:
    """Write the resolved configuration as `config.toml` (None values are left out)."""
    path = Path(out) / "config.toml"
    clean = {k: v for k, v in config.items() if v is not None}
    path.write_text(tomli_w.dumps(clean), encoding="utf-8")
    return path


def write_manifest(out: str | Path, config: dict[str, Any], seed: int, **extra: Any) -> Path:
    """Write `manifest.json`: versions, seed, config hash, command line and `extra` (timings, ...).
    An existing manifest's entries are kept unless `extra` replaces them."""
    path = Path(out) / "manifest.json"
    old: dict[str, Any] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
    manifest = {
        **old,
        "symctl_run": 1,
        "versions": versions(),
        "seed": seed,
        "config_hash": config_hash(config),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        **extra,
    }
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def stream_key(seed: int, stream: str):
    """The PRNG key of one named stream of a seed: "train", "validation", "test", "init", ...
    Different streams never share trajectories, so held-out sets are held out for every method."""
    import jax.random as jr

    return jr.fold_in(jr.key(seed), zlib.crc32(stream.encode()) & 0x7FFFFFFF)
