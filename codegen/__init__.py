"""`codegen`: a `SymbolicPolicy` -> dependency-free C for a microcontroller, verified.

Three layers: a sympy C99 printer (`CPrinter`, `print_c`), a builder that turns the policy into
declarations (CSE temporaries, literals, arguments), and Jinja templates in `templates/c/` that only
lay the code out (`generate`). `verify` compiles the result with gcc and clang under strict warnings,
runs it on recorded observations against the Python float64 reference (`SymbolicPolicy.run_reference`),
under ASan+UBSan with non-finite and huge observations, through cppcheck, and, when the ARM tools are
present, on an emulated Cortex-M4F (QEMU mps2-an386) with code size, stack and instructions per step.

Needs neither JAX nor CasADi: recordings from the simulator are passed in as arrays.
"""

from ._builder import CodegenError, build, check_prefix
from ._harness import STRICT_FLAGS, TOLERANCE, VerificationFailed
from ._printer import REALS, CPrinter, float_literal, print_c
from ._render import GeneratedCode, generate
from ._verify import TARGETS, summary_lines, verify

__all__ = [
    "REALS",
    "STRICT_FLAGS",
    "TARGETS",
    "TOLERANCE",
    "CPrinter",
    "CodegenError",
    "GeneratedCode",
    "VerificationFailed",
    "build",
    "check_prefix",
    "float_literal",
    "generate",
    "print_c",
    "summary_lines",
    "verify",
]
