"""What the ESPL probe scripts share: their common arguments and the `--set key=value` settings."""

from __future__ import annotations

import argparse
import ast


def settings(pairs: list[str]) -> dict:
    """`key=value` pairs as a dict; a value is read as a Python literal (number, bool, tuple, ...)
    when it is one, as the plain string otherwise."""
    out = {}
    for kv in pairs:
        k, v = kv.split("=", 1)
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def parser(method: bool = True) -> argparse.ArgumentParser:
    """The arguments every ESPL probe script takes: TASK, `--seed`, `--set key=value ...` and (with
    `method`) `--method`; each script adds its own."""
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    if method:
        ap.add_argument("--method", default="espl-s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], help="ESPL settings, key=value (see bench/espl_common.py)")
    return ap
