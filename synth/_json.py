"""Plain JSON of results: what `policy.json`'s provenance, `validation.json`, `verification.json` and
the commands' `--json` hold.

numpy arrays and scalars become lists and Python numbers, tuples lists, keys strings, and a
non-finite float the string "inf", "-inf" or "nan" (JSON has no such numbers; `json.dumps` would
write `Infinity`, which strict readers refuse). Checkpoints are the exception: their header is read
back only by symctl, which wants its floats exactly as they were (`synth._checkpoint`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """`obj` with every value JSON can hold as it is, and the rest as said above."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj
