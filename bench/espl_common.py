"""What the ESPL probe scripts share: their `--set key=value` settings."""

from __future__ import annotations

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
