"""The C printer and the generated text: literals, operators, reproducibility, API shape (no compiler)."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from test_codegen_policies import dynamic, dynamic_no_target, static_no_target

import codegen
from codegen import CPrinter, float_literal, print_c

x, y = sp.symbols("x y")


@pytest.mark.parametrize("value", [0.1, 1 / 3, 2.206351421008e-17, 123456789.123, 9.0, 1e-30, 3.4e38, 0.999800006666578])
def test_float_literals_round_trip_exactly(value):
    f32 = float_literal(value, "float")
    assert f32.endswith("F")
    assert np.float32(f32[:-1]) == np.float32(value)
    f64 = float_literal(value, "double")
    assert float(f64) == value


def test_float_literal_rejects_overflow_and_nonfinite():
    with pytest.raises(ValueError, match="overflows float"):
        float_literal(1e39, "float")
    with pytest.raises(ValueError, match="non-finite"):
        float_literal(float("nan"))


def test_constants_are_literals_not_posix_macros():
    text = print_c(sp.pi * x + sp.E * y)
    assert "M_" not in text
    assert "3.1415927F" in text and "2.7182817F" in text
    assert "3.141592653589793" in print_c(sp.pi * x, "double")


def test_every_literal_in_float_code_has_an_f_suffix():
    e = 1 + 2 * x - x**3 / 7 + sp.Rational(1, 3) * y + 0.25 * sp.sin(x) + sp.Max(x, 0) + sp.sign(y)
    text = print_c(e)
    numbers = re.findall(r"(?<![\w.])(\d+\.?\d*(?:e[+-]?\d+)?F?)", text)
    assert numbers and all(n.endswith("F") for n in numbers), text


@pytest.mark.parametrize(
    "expr, expected",
    [
        (x**2, "(x*x)"),
        (x**3, "(x*x*x)"),
        (x**-2, "1.0F/(x*x)"),
        (sp.sqrt(x), "sqrtf(x)"),
        (x**12, "powf(x, 12.0F)"),
        (sp.Abs(x), "fabsf(x)"),
        (sp.Min(x, y), "fminf(x, y)"),
        (sp.Max(x, y), "fmaxf(x, y)"),
        (sp.tanh(x), "tanhf(x)"),
    ],
)
def test_operator_spelling(expr, expected):
    assert print_c(expr) == expected


def test_double_code_uses_double_functions():
    assert print_c(sp.sin(x) + sp.exp(y), "double") in ("sin(x) + exp(y)", "exp(y) + sin(x)")


def test_mod_has_floor_semantics():
    text = print_c(sp.Mod(x, y), "double")
    assert "floor" in text and "fmod" not in text


def test_products_and_sums_are_parenthesised():
    text = print_c(0.3 * x * y - 0.8 * sp.sin(x) / y)
    assert "(0.3F*x*y)" in text and " - " in text


def test_invalid_real_type():
    with pytest.raises(ValueError, match="float, double"):
        CPrinter("half")


@pytest.mark.parametrize("bad", ["", "1abc", "my-ctl", "static", "a b"])
def test_invalid_prefix_is_a_user_error(tmp_path, bad):
    with pytest.raises(codegen.CodegenError, match="--prefix"):
        codegen.generate(dynamic("euler"), tmp_path, prefix=bad)


def test_same_policy_gives_byte_identical_files(tmp_path):
    pol = dynamic("rk4")
    a = codegen.generate(pol, tmp_path / "a", prefix="hand")
    b = codegen.generate(pol, tmp_path / "b", prefix="hand")
    for fa, fb in zip(a.files, b.files, strict=True):
        assert fa.read_bytes() == fb.read_bytes()


def test_byte_identical_across_processes(tmp_path):
    """Hash randomisation must not change the output (CSE order, set iteration)."""
    script = (
        "import sys; sys.path.insert(0, {root!r}); from test_codegen_policies import dynamic; import codegen; "
        "codegen.generate(dynamic('rk4'), {out!r}, prefix='hand')"
    )
    root = os.path.dirname(os.path.abspath(__file__))
    outs = []
    for seed in ("1", "2"):
        out = str(tmp_path / seed)
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", script.format(root=root, out=out)], check=True, env=env)
        outs.append(out)
    for name in ("hand.h", "hand.c"):
        a = (tmp_path / "1" / name).read_bytes()
        assert a == (tmp_path / "2" / name).read_bytes()


def test_provenance_header(tmp_path):
    pol = dynamic("euler")
    code = codegen.generate(pol, tmp_path, prefix="hand")
    head = code.header.read_text()
    import symctl

    assert pol.digest() in head
    assert f"symctl {symctl.__version__}" in head and f"sympy {sp.__version__}" in head
    assert "integrator euler" in head and "dt = 0.02 s" in head and "test/hand" in head
    assert "dz0/dt = " in head
    assert re.search(r"20\d\d-\d\d-\d\d", head) is None  # no timestamp


@pytest.mark.parametrize("single", [False, True])
def test_no_allocation_io_or_mutable_globals(tmp_path, single):
    code = codegen.generate(dynamic("rk4"), tmp_path, prefix="hand", single_header=single)
    text = "".join(p.read_text() for p in [code.header, *code.sources])
    for banned in ("malloc", "free(", "stdio", "printf", "M_PI"):
        assert banned not in text
    body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # file-scope objects would be declarations outside functions; only typedefs and functions exist
    for line in body.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(";") and not line.startswith(("typedef", "}", "#")):
            assert "(" in line, f"file-scope object: {line}"
    assert "#ifdef __cplusplus" in code.header.read_text() and "HAND_H" in code.header.read_text()


def test_zero_sizes_use_pointers(tmp_path):
    code = codegen.generate(static_no_target(), tmp_path, prefix="st")
    h = code.header.read_text()
    assert "#define ST_NZ 0" in h and "#define ST_NR 0" in h
    assert "[ST_NR]" not in h and "[ST_NZ]" not in h and "*r" in h
    code2 = codegen.generate(dynamic_no_target(), tmp_path / "d", prefix="dn")
    assert "[DN_NR]" not in code2.header.read_text() + code2.source.read_text()


def test_codegen_imports_neither_jax_nor_casadi(tmp_path):
    root = os.path.dirname(os.path.abspath(__file__))
    script = (
        f"import sys; sys.path.insert(0, {root!r}); from test_codegen_policies import dynamic; import codegen, codegen._cross; "
        f"codegen.generate(dynamic('rk4'), {str(tmp_path)!r}, prefix='hand'); "
        "bad = [m for m in ('jax', 'casadi', 'diffrax') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
