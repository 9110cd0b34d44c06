"""Validation: LQG baselines (python-control), Monte Carlo comparison, CasADi robustness analysis,
margins, the certificate and the report. `validate(policy, task, out_dir, settings)` runs it all;
`screen(task, policy)` runs the certificate's cheap checks in seconds, for choosing among candidates."""

from ._box_stability import box_stability
from ._certificate import DEFAULT_REQUIREMENTS, certify, load_requirements
from ._closedloop import ClosedLoop, build_closed_loop, controller_step, noise_from_simulator
from ._oracle import oracle, oracle_where_possible, run_oracle
from ._screen import screen
from ._validate import DEFAULT_SETTINGS, ValidationError, validate
from .lqg import VARIANTS as LQG_VARIANTS
from .lqg import (
    LQGDesign,
    LQGError,
    closed_loop_matrix,
    design,
    lqg,
    policy_from_design,
)

__all__ = [
    "DEFAULT_REQUIREMENTS",
    "DEFAULT_SETTINGS",
    "ClosedLoop",
    "LQGDesign",
    "LQGError",
    "LQG_VARIANTS",
    "ValidationError",
    "box_stability",
    "build_closed_loop",
    "certify",
    "closed_loop_matrix",
    "controller_step",
    "design",
    "load_requirements",
    "lqg",
    "noise_from_simulator",
    "oracle",
    "oracle_where_possible",
    "run_oracle",
    "policy_from_design",
    "screen",
    "validate",
]
