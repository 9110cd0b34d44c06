"""The convention both learning methods' settings follow (`synth.gp.GPConfig`, `synth.espl.ESPLConfig`).

A method's settings are one frozen dataclass of plain values, final, on `AbstractSettings`; every
field is documented, with the reason for its default, in `docs/settings.md` (a test keeps the two
in step):

* constructing one checks it: `__post_init__` brings each value to its field's type (a list to a
  tuple, an integer to a float) and calls `check()`, the one validation entry point, which raises
  the method's `UserInputError` naming the setting, the value and what is valid;
* `to_dict()` gives plain TOML/JSON values (tuples as lists), and `from_dict(d)` reads them back,
  refusing a key that is not a setting with a "did you mean";
* `RETIRED` names the settings that were removed, each with the value this version always uses
  and why it went: a file written before (a checkpoint, a `config.toml`) still reads when it holds
  that value, and another value is refused with the reason, since this version cannot do it;
* `RUN_FIELDS` are set by the run itself (the task, the method, the seed, ...): `--set` and the run
  config's `[gp]` / `[espl]` tables take every other field (`settable()`).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from typing import Any, ClassVar

from plants import UserInputError, did_you_mean


class AbstractSettings:
    """The contract of a method's settings (see the module docstring); subclasses are frozen
    dataclasses that define `check()` and the class attributes below."""

    LABEL: ClassVar[str] = ""  # "GP", "ESPL": the first word of every message
    RUN_FIELDS: ClassVar[tuple[str, ...]] = ()
    RETIRED: ClassVar[dict[str, tuple[Any, str]]] = {}
    Error: ClassVar[type[UserInputError]] = UserInputError

    def __post_init__(self) -> None:
        self._coerce_fields()
        self.check()

    def check(self):
        """Raise `Error` for a value out of range or settings that do not go together; return self."""
        raise NotImplementedError

    def _coerce_fields(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, self.coerce(f.name, getattr(self, f.name)))

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain TOML/JSON value (tuples as lists)."""
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = ""):
        """The settings in `data` (keys are field names; the rest take their defaults). A key that is
        not a field is refused with a "did you mean"; a retired one is read if it holds the value
        this version uses. `where` (a file, a table) starts every message."""
        kw = {}
        for key, value in data.items():
            if cls.retired(key, value, where):
                continue
            if key not in cls.field_names():
                raise cls.Error(
                    f"{_at(where)}unknown {cls.LABEL} setting {key!r}{did_you_mean(key, cls.field_names())}; "
                    f"the settings are listed in docs/settings.md"
                )
            kw[key] = value
        return cls(**kw)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def field_type(cls, name: str) -> Any:
        """The type of field `name` (`int`, `float | None`, `tuple[float, float]`, ...)."""
        return _hints(cls)[name]

    @classmethod
    def settable(cls) -> tuple[str, ...]:
        """The fields `--set` and the run config's table take: all but the run's own."""
        return tuple(n for n in cls.field_names() if n not in cls.RUN_FIELDS)

    @classmethod
    def retired(cls, key: str, value: Any, where: str = "") -> bool:
        """Whether `key` is a removed setting holding the value this version uses (so it can be
        dropped); raises `Error` with the reason when it holds another."""
        if key not in cls.RETIRED:
            return False
        fixed, why = cls.RETIRED[key]
        if _plain(value) != _plain(fixed):
            raise cls.Error(
                f"{_at(where)}{cls.LABEL} setting {key} = {value!r} is no longer available: {why}; "
                f"this version always uses {_plain(fixed)!r}. Remove it (docs/settings.md, removed settings)"
            )
        return True

    @classmethod
    def coerce(cls, name: str, value: Any, where: str = "") -> Any:
        """`value` as field `name` holds it (a list as a tuple, an integer as a float); `Error`
        naming the setting and the type it needs when it is not one."""
        hint = _hints(cls)[name]
        try:
            return _convert(value, hint)
        except _Mismatch:
            raise cls.Error(f"{_at(where)}{cls.LABEL} setting {name} = {value!r}: expected {_describe(hint)}") from None


def _at(where: str) -> str:
    return f"{where}: " if where else ""


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Mismatch(Exception):
    pass


def _convert(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        for arg in args:
            try:
                return _convert(value, arg)
            except _Mismatch:
                pass
        raise _Mismatch
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        raise _Mismatch
    if hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in value)
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_convert(v, a) for v, a in zip(value, args))
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return {_convert(k, args[0]): _convert(v, args[1]) for k, v in value.items()}
    return value


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string (in quotes)"}
    if hint in names:
        return names[hint]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} {_plural(args[0])}"
    if origin is dict:
        return f"a table of {_plural(args[1])}"
    return str(hint)


def _plural(hint: Any) -> str:
    return {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}.get(hint) or f"({_describe(hint)})"
