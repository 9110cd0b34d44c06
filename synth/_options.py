"""The options a synthesis method takes from the command line or the run config.

A method declares its options as a dict of defaults; `check_options` refuses any other (naming the
method and the options it does take) and fills in the defaults. Every method's runner uses it, and
the CLI reaches it only through the runners.
"""

from __future__ import annotations

from typing import Any

from plants import UserInputError


def check_options(method: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Reject options a method does not take; return its defaults updated with the given ones
    (an option given as None counts as not given)."""
    for k, v in options.items():
        if v is not None and k not in defaults:
            raise UserInputError(
                f"option --{k.replace('_', '-')} does not apply to method {method!r}; its options: "
                f"{', '.join('--' + d.replace('_', '-') for d in defaults) or '(none)'}"
            )
    return {**defaults, **{k: v for k, v in options.items() if v is not None}}
