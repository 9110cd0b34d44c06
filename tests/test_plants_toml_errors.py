"""Malformed plant and task files: each gets one precise message naming the file, the key and the fix."""

import re

import pytest

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
        [('[plant.dynamics]\nomega = "k*i/J"\ni = "(v - R*i - k*omega)/L"', ""), ('inputs = ["v"]', 'inputs = ["v"]\ndynamics = ["k*i/J"]')],
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


def test_missing_plant_file_is_named(tmp_path):
    path = write(tmp_path, '[task]\nplant = "nowhere.toml"\nhorizon = 1.0\ndt = 0.1\n[task.cost]\nstage = "0"\n')
    with pytest.raises(TaskFileError, match=r"nowhere\.toml: file not found"):
        plants.load_task(path)


def test_unknown_builtin_task_suggests_a_name():
    with pytest.raises(plants.UnknownTask, match=r"unknown task 'sho/noisi' \(did you mean 'sho/noisy'\?\)"):
        plants.get_task("sho/noisi")
