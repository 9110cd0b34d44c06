"""Plants and tasks: one symbolic source (sympy), from which every backend is derived.

Public API: `Plant`, `Task` and their parts; `get_task`, `load_task`, `load_plant`; the backends
`to_jax`, `to_numpy`, `to_casadi`, `linearize`, `operating_point`; the operator declaration;
`normalise` (a task in normalised units, with its `Scaling`) and `over_box` (robust training);
`parse_expression` (text to sympy, within size and time limits).
"""

from ._backends import (
    Linearization,
    PlantFunctions,
    equilibrium_input,
    linearize,
    operating_point,
    target_state_expressions,
    to_casadi,
    to_jax,
    to_numpy,
)
from ._library import (
    BUILTIN_TASKS,
    DEFAULT_TASK,
    UnknownTask,
    builtin_equivalent,
    builtin_tasks,
    definition_digest,
    get_task,
    task_path,
    task_reference,
)
from ._model import (
    Cost,
    Distribution,
    ModelError,
    Observation,
    Parameter,
    Plant,
    Success,
    Task,
    UserInputError,
    symbol,
)
from ._normalise import normalise, over_box, training_task
from ._operators import EXPRESSION_NAMESPACE, OPERATORS, POLICY_FUNCTION_SET, Operator, get_operator
from ._parse import ExpressionLimit, parse_expression
from ._scaling import Scaling, choose_scaling
from ._toml import TaskFileError, did_you_mean, load_plant
from ._toml_task import load_task
from ._translate import UnsupportedExpression, lower

__all__ = [
    "BUILTIN_TASKS",
    "DEFAULT_TASK",
    "EXPRESSION_NAMESPACE",
    "OPERATORS",
    "POLICY_FUNCTION_SET",
    "Cost",
    "Distribution",
    "ExpressionLimit",
    "Linearization",
    "ModelError",
    "Observation",
    "Operator",
    "Parameter",
    "Plant",
    "PlantFunctions",
    "Scaling",
    "Success",
    "Task",
    "TaskFileError",
    "UnknownTask",
    "UnsupportedExpression",
    "UserInputError",
    "builtin_equivalent",
    "builtin_tasks",
    "choose_scaling",
    "definition_digest",
    "did_you_mean",
    "equilibrium_input",
    "get_operator",
    "get_task",
    "linearize",
    "load_plant",
    "load_task",
    "lower",
    "normalise",
    "operating_point",
    "over_box",
    "parse_expression",
    "training_task",
    "symbol",
    "target_state_expressions",
    "task_path",
    "task_reference",
    "to_casadi",
    "to_jax",
    "to_numpy",
]
