"""`input_reference = "equilibrium"`: exact for dynamics affine in the input, solved numerically
(IPOPT through CasADi) within the input limits otherwise, and one-line errors when it cannot be."""

import math

import numpy as np
import pytest
import sympy as sp

import plants
from plants import TaskFileError

TANH = """
[plant]
name = "tanh"
time = "{time}"
states = ["x"]
inputs = ["u"]

[plant.parameters]
a = {{ nominal = 1.0, range = [0.5, 2.0] }}

[plant.dynamics]
x = "{dynamics}"

[task]
horizon = 1.0
dt = 0.1

[task.observations]
y = {{ expr = "x", noise = 0.01 }}

[task.targets]
r = {target}

[task.parameters]
a = {a}

[task.initial]
x = 0.0

[task.input_limits]
u = {limits}

[task.cost]
Q = [1.0]
R = [0.1]
state_reference = ["r"]
input_reference = "equilibrium"
"""


def tanh_task(tmp_path, dynamics="-a*x + tanh(u)", target="0.5", limits="[-3, 3]", a='"nominal"', time="continuous"):
    path = tmp_path / "task.toml"
    path.write_text(TANH.format(dynamics=dynamics, target=target, limits=limits, a=a, time=time))
    return path


def u_ref(task) -> np.ndarray:
    return np.array([float(e) for e in task.cost.quadratic[3]])


def test_tanh_input_is_the_inverse_and_agrees_with_the_operating_point(tmp_path):
    task = plants.load_task(tanh_task(tmp_path))
    (u,) = u_ref(task)
    assert u == pytest.approx(math.atanh(0.5), abs=1e-10)
    x_op, u_op = plants.operating_point(task)  # LQG's operating point: scipy least squares, independently
    assert x_op[0] == pytest.approx(0.5) and u_op[0] == pytest.approx(u, abs=1e-8)
    # the plant is at rest there
    pl = task.plant
    assert abs(float(pl.dynamics[0].subs({pl.x[0]: 0.5, pl.u[0]: u, pl.p[0]: 1.0}))) < 1e-12


@pytest.mark.parametrize("target, expected", [("-0.5", -(0.5 ** (1 / 3))), ("0.25", 0.25 ** (1 / 3))])
def test_cubic_input_takes_the_real_root_of_either_sign(tmp_path, target, expected):
    task = plants.load_task(tanh_task(tmp_path, dynamics="-a*x + u**3", target=target))
    assert u_ref(task)[0] == pytest.approx(expected, abs=1e-9)


def test_discrete_time_plant(tmp_path):
    task = plants.load_task(tanh_task(tmp_path, dynamics="x + 0.1*(-a*x + tanh(u))", time="discrete"))
    assert u_ref(task)[0] == pytest.approx(math.atanh(0.5), abs=1e-10)


def test_varying_parameters_are_solved_at_their_nominal_value(tmp_path):
    # a drawn uniformly over [0.5, 2.0]: the design value is its mean 1.25 (Task.nominal_parameters)
    task = plants.load_task(tanh_task(tmp_path, a='"range"', target="0.6"))
    assert task.varying_parameters == ("a",)
    assert u_ref(task)[0] == pytest.approx(math.atanh(1.25 * 0.6), abs=1e-9)


def test_several_equilibria_give_the_one_nearest_zero_within_the_limits(tmp_path):
    # sin(u) = 0.5 at u = pi/6 + 2k pi and 5 pi/6 + 2k pi: pi/6 is nearest zero
    task = plants.load_task(tanh_task(tmp_path, dynamics="-a*x + sin(u)", limits="[-10, 10]"))
    assert u_ref(task)[0] == pytest.approx(math.pi / 6, abs=1e-9)
    # with the limits excluding it, the nearest one inside them
    task = plants.load_task(tanh_task(tmp_path, dynamics="-a*x + sin(u)", limits="[1, 10]"))
    assert u_ref(task)[0] == pytest.approx(5 * math.pi / 6, abs=1e-9)


HOVER = """
[plant]
name = "hover"
states = ["h", "v"]
inputs = ["w"]

[plant.parameters]
k = 2.0e-3
m = 0.5
g = 9.81
c = 0.05

[plant.dynamics]
h = "v"
v = "(k*w*abs(w) - c*v*abs(v))/m - g"

[task]
horizon = 1.0
dt = 0.05

[task.observations]
y = { expr = "h", noise = 0.01 }

[task.targets]
r = { uniform = [1.0, 3.0] }

[task.initial]
h = 0.0
v = 0.0

[task.input_limits]
w = [-100, 100]

[task.cost]
Q = [1.0, 0.1]
R = [1e-4]
state_reference = ["r", 0]
input_reference = "equilibrium"
"""


def test_thrust_u_abs_u_with_a_varying_target_it_does_not_depend_on(tmp_path):
    """A propeller's thrust k w |w| holds the weight at any height: the varying target is fine."""
    path = tmp_path / "hover.toml"
    path.write_text(HOVER)
    task = plants.load_task(path)
    assert u_ref(task)[0] == pytest.approx(math.sqrt(0.5 * 9.81 / 2e-3), abs=1e-7)
    path.write_text(HOVER.replace("w = [-100, 100]", "w = [-100, 40]"))  # sqrt(mg/k) = 49.5 is out of reach
    with pytest.raises(TaskFileError) as err:
        plants.load_task(path)
    msg = str(err.value)
    assert msg.startswith(f'{path}: [task.cost.input_reference] "equilibrium": no input within the limits (w in [-100, 40])')
    assert "holds the plant at rest at h = 2, v = 0: the smallest residual |dx/dt| is 3.41, at w = 40;" in msg
    assert "\n" not in msg


MAGLEV = """
[plant]
name = "maglev"
states = ["x", "v", "i"]
inputs = ["e"]

[plant.parameters]
k = 1.0e-4
m = 0.05
g = 9.81
R = 2.0
L = 0.1

[plant.dynamics]
x = "v"
v = "g - k*i**2/(m*x**2)"
i = "(e - R*i)/L"

[task]
horizon = 1.0
dt = 0.01

[task.observations]
y = { expr = "x", noise = 1e-4 }

[task.targets]
r = 0.01

[task.initial]
x = 0.012
v = 0.0
i = 0.5

[task.input_limits]
e = [0, 12]

[task.cost]
Q = [1e4, 1.0, 0.0]
R = [1e-3]
state_reference = ["r", 0, 0]
input_reference = "equilibrium"
"""


def test_free_state_solved_with_the_input_inside_the_limits(tmp_path):
    """A levitated ball: the coil current (left free by Q) and the voltage are solved together; the
    current's two signs give the same force, and the limits keep the positive one."""
    path = tmp_path / "maglev.toml"
    path.write_text(MAGLEV)
    task = plants.load_task(path)
    i_eq = 0.01 * math.sqrt(0.05 * 9.81 / 1e-4)
    assert u_ref(task)[0] == pytest.approx(2.0 * i_eq, abs=1e-9)


def test_affine_dynamics_keep_the_exact_expression(tmp_path):
    """The affine path is unchanged: the input reference is an expression of the varying target."""
    task = plants.load_task(tanh_task(tmp_path, dynamics="-a*x + 2*u", target="{ uniform = [-1.0, 1.0] }"))
    (e,) = task.cost.quadratic[3]
    assert e.free_symbols == {plants.symbol("r"), plants.symbol("a")}
    assert sp.simplify(e - plants.symbol("a") * plants.symbol("r") / 2) == 0


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"target": "1.5"},
            "no input within the limits (u in [-3, 3]) holds the plant at rest at x = 1.5: the smallest residual |dx/dt| "
            "is 0.505, at u = 3; widen task.input_limits, move the reference, or give input_reference as one expression per input",
        ),
        (
            {"dynamics": "-a*x + u**3", "limits": "[-0.5, 0.5]", "target": "1.0"},
            "no input within the limits (u in [-0.5, 0.5]) holds the plant at rest at x = 1: the smallest residual |dx/dt| is 0.875, at u = 0.5;",
        ),
        (
            {"dynamics": "x + 0.1*(-a*x + tanh(u))", "time": "discrete", "target": "-2"},
            "holds the plant at rest at x = -2: the smallest residual |x+ - x| is 0.1, at u = -3;",
        ),
        (
            {"target": "{ uniform = [-0.5, 0.5] }"},
            '"equilibrium": the dynamics are not affine in u, so the input is solved numerically at one operating point, but it '
            "depends on the target r, which varies per trajectory; give input_reference as one expression per input of the targets, or fix the target",
        ),
    ],
)
def test_errors_are_one_line_naming_file_key_residual_and_limits(tmp_path, changes, message):
    path = tanh_task(tmp_path, **changes)
    with pytest.raises(TaskFileError) as err:
        plants.load_task(path)
    text = str(err.value)
    assert text.startswith(f'{path}: [task.cost.input_reference] "equilibrium": ')
    assert message in text
    assert "\n" not in text
