"""`load_policy(path)`: a policy from its file or its run folder, whichever kind it is.

A symbolic policy is `policy.json` (`SymbolicPolicy`); the NDE's network is `network.json` with its
`network.npz` (`synth.nde.NetworkPolicy`). A run folder is read as the kind it holds; neither
needs JAX to load.
"""

from __future__ import annotations

import json
from pathlib import Path

from ._controller import AbstractNetworkPolicy
from ._policy import PolicyError, SymbolicPolicy
from .nde._policy import JSON_FILE as NETWORK_FILE
from .nde._policy import SCHEMA as NETWORK_SCHEMA
from .nde._policy import NetworkPolicy


def is_network_policy(path: str | Path) -> bool:
    """Whether `path` is a network policy's JSON, or a run folder holding one and no `policy.json`."""
    path = Path(path)
    if path.is_dir():
        return (path / NETWORK_FILE).is_file() and not (path / "policy.json").is_file()
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(d, dict) and d.get("schema") == NETWORK_SCHEMA


def load_policy(path: str | Path) -> SymbolicPolicy | AbstractNetworkPolicy:
    """The policy in `path`: a `policy.json`, a `network.json`, or a run folder holding either."""
    if is_network_policy(path):
        return NetworkPolicy.load(path)
    path = Path(path)
    if path.is_dir() and not (path / "policy.json").is_file():
        raise PolicyError(f"{path}: holds neither policy.json (a symbolic policy) nor {NETWORK_FILE} (a network policy)")
    return SymbolicPolicy.load(path)


__all__ = ["is_network_policy", "load_policy"]
