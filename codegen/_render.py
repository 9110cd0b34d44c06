"""Rendering: the builder's declarations laid out by the Jinja templates in `templates/c/`."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jinja2

from synth import SymbolicPolicy

from ._builder import CFunction, build

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment over `templates/` (strict: an undefined name is an error)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_ROOT)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _call(fn: CFunction, args: dict[str, str]) -> str:
    return f"{fn.name}(" + ", ".join(args[p.name] for p in fn.params) + ")"


def render(template: str, context: dict) -> str:
    text = environment().get_template(template).render(**context, call=_call)
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).rstrip("\n") + "\n"


@dataclasses.dataclass(frozen=True)
class GeneratedCode:
    """The files written by `generate`: `header`, `source` (None for a single header), examples."""

    out_dir: Path
    prefix: str
    real: str
    single_header: bool
    header: Path
    source: Path | None
    example_main: Path
    makefile_fragment: Path
    cmake_snippet: Path
    context: dict = dataclasses.field(repr=False, compare=False)

    @property
    def sources(self) -> list[Path]:
        return [self.source] if self.source else []

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.header, self.source, self.example_main, self.makefile_fragment, self.cmake_snippet) if p]


def generate(
    policy: SymbolicPolicy,
    out_dir: str | Path,
    prefix: str = "controller",
    real: str = "float",
    single_header: bool = False,
    safe_output=None,
) -> GeneratedCode:
    """Write the C controller of `policy` into `out_dir`.

    Files: `<prefix>.h` and `<prefix>.c` (or only `<prefix>.h` with `single_header=True`, every
    function `static inline`), and `<prefix>.mk` (Makefile fragment), `<prefix>.cmake` (CMake snippet) and `example/main.c`. `real` is "float" (default) or "double". `safe_output` is the control
    written when a non-finite value is caught (default: 0 clipped into the input limits).
    The same policy and options always give byte-identical files.
    """
    ctx = build(policy, prefix, real, safe_output)
    ctx["zero"] = "0.0F" if real == "float" else "0.0"
    ctx["single_header"] = single_header
    out = Path(out_dir)
    (out / "example").mkdir(parents=True, exist_ok=True)
    header = out / f"{prefix}.h"
    source = None
    if single_header:
        header.write_text(render("c/single.h.j2", ctx), encoding="utf-8")
        stale = out / f"{prefix}.c"
        if stale.exists():
            stale.unlink()
    else:
        header.write_text(render("c/controller.h.j2", ctx), encoding="utf-8")
        source = out / f"{prefix}.c"
        source.write_text(render("c/controller.c.j2", ctx), encoding="utf-8")
    main = out / "example" / "main.c"
    main.write_text(render("c/example_main.c.j2", ctx), encoding="utf-8")
    mk = out / f"{prefix}.mk"
    mk.write_text(render("c/firmware.mk.j2", ctx), encoding="utf-8")
    cm = out / f"{prefix}.cmake"
    cm.write_text(render("c/controller.cmake.j2", ctx), encoding="utf-8")
    return GeneratedCode(out, prefix, real, single_header, header, source, main, mk, cm, ctx)
