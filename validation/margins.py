"""Stability margins of a closed loop, as the certificate computes them: `policy_margins` linearises
a policy's loop with the task's plant at its equilibrium and returns the per-input classical and
disk margins; `lqr_margins` does the same for an LQG design; `summary` reduces either to the
figures the certificate reports."""

from ._linearize import NoEquilibrium
from ._margins import lqr_margins, policy_margins, summary

__all__ = ["NoEquilibrium", "lqr_margins", "policy_margins", "summary"]
