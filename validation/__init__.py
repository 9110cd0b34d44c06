"""Validation: LQG baselines (python-control), Monte Carlo comparison, CasADi robustness analysis."""

from .lqg import VARIANTS as LQG_VARIANTS
from .lqg import LQGDesign, LQGError, closed_loop_matrix, design, lqg, oracle, policy_from_design

__all__ = ["LQGDesign", "LQGError", "LQG_VARIANTS", "closed_loop_matrix", "design", "lqg", "oracle", "policy_from_design"]
