"""Malformed plant and task files: each gets one precise message naming the file, the key and the fix."""

import re
import time

import pytest
import sympy as sp

import plants
from plants import TaskFileError

VALID = """
[plant]
name = "motor"
states = ["omega", "i"]
inputs = ["v"]

[plant.parameters]
R = { nominal = 1.0, range = [0.5, 2.0] }
L = { nominal = 0.5 }
k = { nominal = 0.1 }
J = { nominal = 0.01 }

[plant.dynamics]
omega = "k*i/J"
i = "(v - R*i - k*omega)/L"

[task]
horizon = 2.0
dt = 0.01

[task.observations]
y_omega = { expr = "omega", noise = 0.01 }

[task.targets]
w_ref = { uniform = [-10.0, 10.0] }

[task.initial]
omega = 0.0
i = 0.0

[task.cost]
Q = [1.0, 0.0]
R = [0.01]
state_reference = ["w_ref", 0]
input_reference = "equilibrium"
"""


def write(tmp_path, text, name="task.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_file_loads(tmp_path):
    task = plants.load_task(write(tmp_path, VALID))
    assert task.plant.states == ("omega", "i")
    assert task.n_ticks == 200
    # The equilibrium input holding omega = w_ref is v = (R*k/k + k) ... computed symbolically.
    x_op, u_op = plants.operating_point(task, r=[5.0])
    assert x_op[0] == pytest.approx(5.0)
    assert u_op[0] == pytest.approx(1.0 * 0.0 + 0.1 * 5.0)


CASES = [
    # (what is wrong, replacement (old, new), expected message pattern)
    (
        "unknown symbol with did-you-mean",
        ('omega = "k*i/J"', 'omega = "k*ii/J"'),
        r"\[plant\.dynamics\.omega\] unknown symbol 'ii' in 'k\*ii/J' \(did you mean 'i'\?\); known symbols: omega, i, v, R, L, k, J",
    ),
    (
        "unknown key in the plant with did-you-mean",
        ('inputs = ["v"]', 'inputs = ["v"]\nstate = ["x"]'),
        r"\[plant\.state\] unknown key 'state' \(did you mean 'states'\?\); valid keys: ",
    ),
    (
        "unknown key in the task",
        ("dt = 0.01", "dt = 0.01\nhorizn = 3"),
        r"\[task\.horizn\] unknown key 'horizn' \(did you mean 'horizon'\?\)",
    ),
    (
        "missing nominal value",
        ("L = { nominal = 0.5 }", "L = { range = [0.1, 1.0] }"),
        r"\[plant\.parameters\.L\] missing nominal value; write nominal = <number>",
    ),
    (
        "range with low > high",
        ("range = [0.5, 2.0]", "range = [2.0, 0.5]"),
        r"\[plant\.parameters\.R\.range\] low 2\.0 > high 0\.5; write \[low, high\]",
    ),
    (
        "wrong number of expressions (list form)",
        [
            ('[plant.dynamics]\nomega = "k*i/J"\ni = "(v - R*i - k*omega)/L"', ""),
            ('inputs = ["v"]', 'inputs = ["v"]\ndynamics = ["k*i/J"]'),
        ],
        r"\[plant\.dynamics\] 1 expressions for 2 states \(omega, i\); give one per state",
    ),
    (
        "missing expression for a state (table form)",
        ('i = "(v - R*i - k*omega)/L"\n', ""),
        r"\[plant\.dynamics\] 1 expressions for 2 states; missing: i",
    ),
    (
        "non-finite nominal value",
        ("J = { nominal = 0.01 }", "J = { nominal = nan }"),
        r"\[plant\.parameters\.J\.nominal\] nan is not a finite number",
    ),
    (
        "non-finite time step",
        ("dt = 0.01", "dt = inf"),
        r"\[task\.dt\] inf is not a finite number",
    ),
    (
        "unparsable expression",
        ('omega = "k*i/J"', 'omega = "k*i/(J"'),
        r"\[plant\.dynamics\.omega\] cannot parse expression 'k\*i/\(J'",
    ),
    (
        "observation of an unknown state",
        ('expr = "omega"', 'expr = "theta"'),
        r"\[task\.observations\.y_omega\.expr\] observation of unknown state 'theta'; states: omega, i",
    ),
    (
        "unknown function with did-you-mean",
        ('omega = "k*i/J"', 'omega = "sine(i)"'),
        r"\[plant\.dynamics\.omega\] unknown function 'sine' in 'sine\(i\)' \(did you mean 'sin'\?\)",
    ),
    (
        "dynamics for a state that does not exist",
        ('omega = "k*i/J"', 'omega = "k*i/J"\ntheta = "omega"'),
        r"\[plant\.dynamics\.theta\] 'theta' is not a state; states: omega, i",
    ),
    (
        "initial distribution missing for a state",
        ("i = 0.0\n", ""),
        r"\[task\.initial\] no distribution for states i; give a number or \{uniform = \[low, high\]\} or \{normal = \[mean, std\]\}",
    ),
    (
        "unknown distribution kind",
        ("w_ref = { uniform = [-10.0, 10.0] }", "w_ref = { uniformly = [-10.0, 10.0] }"),
        r"\[task\.targets\.w_ref\] unknown distribution 'uniformly' \(did you mean 'uniform'\?\); valid: uniform, normal, fixed",
    ),
    (
        "horizon not a whole number of periods",
        ("horizon = 2.0", "horizon = 2.005"),
        r"\[task\.horizon\] 2\.005 s is not a whole number of control periods dt = 0\.01 s",
    ),
    (
        "input limits reversed",
        ("[task.initial]", "[task.input_limits]\nv = [12.0, -12.0]\n\n[task.initial]"),
        r"\[task\.input_limits\.v\] low 12\.0 > high -12\.0; write \[low, high\]",
    ),
    (
        "negative noise",
        ("noise = 0.01", "noise = -0.01"),
        r"\[task\.observations\.y_omega\.noise\] standard deviation -0\.01 must be >= 0",
    ),
    (
        "cost weight matrix of the wrong size",
        ("Q = [1.0, 0.0]", "Q = [1.0, 0.0, 2.0]"),
        r"\[task\.cost\.Q\] expected 2 diagonal entries, got 3",
    ),
    (
        "a condition where a value is expected",
        ('omega = "k*i/J"', 'omega = "k*i > J"'),
        r"\[plant\.dynamics\.omega\] expected a value, got the condition 'k\*i > J'",
    ),
    (
        "parameter nominal outside its range",
        ("range = [0.5, 2.0]", "range = [1.5, 2.0]"),
        r"\[plant\.parameters\.R\.nominal\] nominal 1\.0 is outside its range \[1\.5, 2\.0\]",
    ),
    (
        "not TOML at all",
        ("[task]\n", "[task\n"),
        r": not valid TOML: ",
    ),
    (
        "a power tower sympy would evaluate for ever",
        ('omega = "k*i/J"', 'omega = "k*i**(10**10**10)/J"'),
        r"\[plant\.dynamics\.omega\] expression 'k\*i\*\*\(10\*\*10\*\*10\)/J' is refused: it has an exponent of 1e\+10; "
        r"exponents are at most 1000 in magnitude$",
    ),
    (
        "a constant beyond float64",
        ('omega = "k*i/J"', 'omega = "k*i/J + 10**400"'),
        r"\[plant\.dynamics\.omega\] expression 'k\*i/J \+ 10\*\*400' is refused: it computes 10\*\*400, beyond 1e\+300 in magnitude$",
    ),
    (
        "a number literal of 400 digits",
        ('omega = "k*i/J"', 'omega = "k*i/J + ' + "7" * 400 + '"'),
        r"\[plant\.dynamics\.omega\] expression 'k\*i/J \+ 7{52}\.\.\.' is refused: it holds a number of 400 digits; at most 300$",
    ),
    (
        "an expression of 12,000 characters",
        ('omega = "k*i/J"', 'omega = "' + " + ".join(["i"] * 3000) + '"'),
        r"\[plant\.dynamics\.omega\] expression 'i \+ i .*\.\.\.' is refused: it is 11,997 characters long; at most 10,000$",
    ),
    (
        "a chain of 4,900 additions",
        ('omega = "k*i/J"', 'omega = "' + "+".join(["i"] * 4900) + '"'),
        r"\[plant\.dynamics\.omega\] expression 'i\+i.*\.\.\.' is refused: it nests too deeply for Python's parser",
    ),
    (
        "Python beyond the expression language",
        ('omega = "k*i/J"', 'omega = "i.__class__"'),
        r"\[plant\.dynamics\.omega\] expression 'i\.__class__' is refused: it uses Python syntax outside the expression language \(Attribute\)$",
    ),
    (
        "Python's 'and' in a condition",
        ('omega = "k*i/J"', 'omega = "where(i > 0 and i < 1, k*i/J, 0)"'),
        r"is refused: 'and' is Python's, not the expression language's: write \(a\) & \(b\), each condition in parentheses$",
    ),
    (
        "Python's 'or' in a condition",
        ('omega = "k*i/J"', 'omega = "where(i < 0 or i > 1, k*i/J, 0)"'),
        r"is refused: 'or' is Python's, not the expression language's: write \(a\) \| \(b\)",
    ),
    (
        "Python's 'not' in a condition",
        ('omega = "k*i/J"', 'omega = "where(not i > 0, k*i/J, 0)"'),
        r"is refused: 'not' is Python's, not the expression language's: write ~\(a\)$",
    ),
    (
        "comparisons joined by & without parentheses",
        ('omega = "k*i/J"', 'omega = "where(i > 0 & i < 1, k*i/J, 0)"'),
        r"is refused: it chains comparisons .*: write \(a < b\) & \(b < c\), each comparison in parentheses$",
    ),
    (
        "a state listed twice",
        ('states = ["omega", "i"]', 'states = ["omega", "omega"]'),
        r"\[plant\.states\] state 'omega' is listed twice; each state needs a name of its own$",
    ),
    (
        "an input with a state's name",
        ('inputs = ["v"]', 'inputs = ["i"]'),
        r"\[plant\.inputs\] 'i' is already the name of a state; give the input a name of its own$",
    ),
    (
        "a parameter with an input's name",
        ("J = { nominal = 0.01 }", "J = { nominal = 0.01 }\nv = { nominal = 1.0 }"),
        r"\[plant\.parameters\.v\] 'v' is already the name of an input; give the parameter a name of its own$",
    ),
    (
        "a target with a parameter's name",
        ("w_ref = { uniform", "k = { uniform"),
        r"\[task\.targets\.k\] 'k' is already the name of a parameter; give the target a name of its own$",
    ),
    (
        "an observation with a target's name",
        ("y_omega = { expr", "w_ref = { expr"),
        r"\[task\.observations\.w_ref\] 'w_ref' is already the name of a target; give the observation a name of its own$",
    ),
    (
        "a negative state weight",
        ("Q = [1.0, 0.0]", "Q = [1.0, -0.5]"),
        r"\[task\.cost\.Q\] Q = \[1\.0, -0\.5\] is not positive semidefinite \(no eigenvalue < 0: .*\); its smallest eigenvalue is -0\.5$",
    ),
    (
        "an indefinite weight matrix",
        ("Q = [1.0, 0.0]", "Q = [[1.0, 2.0], [2.0, 1.0]]"),
        r"\[task\.cost\.Q\] Q = \[\[1\.0, 2\.0\], \[2\.0, 1\.0\]\] is not positive semidefinite .*; its smallest eigenvalue is -1$",
    ),
    (
        "a negative input weight",
        ("R = [0.01]", "R = [-0.01]"),
        r"\[task\.cost\.R\] R = \[-0\.01\] is not positive semidefinite .*; its smallest eigenvalue is -0\.01$",
    ),
    (
        "an LQG input weight that is only semidefinite",
        ('input_reference = "equilibrium"\n', 'input_reference = "equilibrium"\n\n[task.lqg]\nQ = [1.0, 1.0]\nR = [0.0]\n'),
        r"\[task\.lqg\.R\] R = \[0\.0\] is not positive definite \(every eigenvalue > 0: LQR needs a cost on every input\); "
        r"its smallest eigenvalue is 0$",
    ),
    (
        "a negative LQG state weight",
        ('input_reference = "equilibrium"\n', 'input_reference = "equilibrium"\n\n[task.lqg]\nQ = [-1.0, 1.0]\nR = [1.0]\n'),
        r"\[task\.lqg\.Q\] Q = \[-1\.0, 1\.0\] is not positive semidefinite .*; its smallest eigenvalue is -1$",
    ),
    (
        "an LQG weight of the wrong size",
        ('input_reference = "equilibrium"\n', 'input_reference = "equilibrium"\n\n[task.lqg]\nQ = [1.0]\nR = [1.0]\n'),
        r"\[task\.lqg\.Q\] expected 2 diagonal entries, got 1$",
    ),
]


@pytest.mark.parametrize("what, change, pattern", CASES, ids=[c[0] for c in CASES])
def test_malformed_file_message(tmp_path, what, change, pattern):
    text = VALID
    for old, new in change if isinstance(change, list) else [change]:
        assert old in text, f"test case {what!r} does not apply to the valid file"
        text = text.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(TaskFileError) as info:
        plants.load_task(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert re.search(pattern, message), f"{what}: got {message!r}"
    assert "\n" not in message


def test_a_parse_over_the_time_limit_is_stopped_and_named(tmp_path, monkeypatch):
    """A formula within the size limits whose parse is slow (sympy adds 900 terms one at a time,
    seconds of work) is stopped at the limit (here 0.1 s) with a one-line message."""
    from plants import _parse

    monkeypatch.setattr(_parse, "PARSE_SECONDS", 0.1)
    slow = "+".join(f"sin({k}*i)" for k in range(1, 900))
    path = write(tmp_path, VALID.replace('omega = "k*i/J"', f'omega = "{slow}"'))
    t0 = time.perf_counter()
    with pytest.raises(TaskFileError) as info:
        plants.load_task(path)
    assert time.perf_counter() - t0 < 1.5
    assert re.fullmatch(
        rf"{re.escape(str(path))}: \[plant\.dynamics\.omega\] expression 'sin\(1\*i\)\+.*\.\.\.' is refused: "
        r"parsing it took over 0\.1 s",
        str(info.value),
    )


def test_expressions_within_the_limits_parse_as_sympy_parses_them():
    names = {**plants.EXPRESSION_NAMESPACE, "x": plants.symbol("x")}
    for text in (
        "x**1000 + 2**-1000",
        "x**(1/3) - 10**300",
        "(x + 1)**2 / 1e-300",
        "where(x > 0, x, -x)",
        "0.0025/3*sin(3*x)",
        "where((x > 0) & ~(x > 1), x, 0)",
    ):
        assert plants.parse_expression(text, names) == sp.sympify(text, locals=names)


def test_missing_plant_file_is_named(tmp_path):
    path = write(tmp_path, '[task]\nplant = "nowhere.toml"\nhorizon = 1.0\ndt = 0.1\n[task.cost]\nstage = "0"\n')
    with pytest.raises(TaskFileError, match=r"nowhere\.toml: file not found"):
        plants.load_task(path)


def test_unknown_builtin_task_suggests_a_name():
    with pytest.raises(plants.UnknownTask, match=r"unknown task 'sho/noisi' \(did you mean 'sho/noisy'\?\)"):
        plants.get_task("sho/noisi")
