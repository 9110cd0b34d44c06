"""The end of `symctl run` and `symctl validate`: the exit status, and what failed with what to try.

Exit status: 0 when the certificate passes and the generated C verifies (or `--allow-fail` was
given), 2 for a user input error (see `symctl.cli.main`), 3 when the certificate's verdict is FAIL or
the C verification failed.

The hints are keyed by words in the certificate's row names (`validation.certify` returns rows with
`name`, `requirement`, `status`, `value`, `evidence`), so a new or renamed row still gets the hint of
its kind, and a row of an unknown kind gets the generic one.
"""

from __future__ import annotations

import math
from pathlib import Path

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_FAILED = 3


# (kind, words any of which in a row's lower-cased name puts it in this kind, what to try). First match wins;
# `{robust}` is the robust-training option, `{task}` the task.
_HINTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "cost",
        ("cost ratio", "ratio to"),
        "a larger synthesis budget: --budget paper, or more --generations (GP) / --iterations (ESPL)",
    ),
    (
        "worst case",
        ("worst", "finite"),
        "train over the parameter box ({robust}), or narrow the parameter ranges (`range` in the plant file) "
        "to what the plant really spans",
    ),
    (
        "integration",
        ("fixed step", "cvodes"),
        "more plant substeps per control period (`substeps` in the task file) until the fixed step agrees with "
        "CVODES; on a chaotic plant compare mean costs instead (README, `bench/fixed_step.py`)",
    ),
    (
        "margin",
        ("margin",),
        "compare with `symctl validate lqg --task {task}`: LQG guarantees no margin, and when it falls short too, "
        "the sensors and the cost limit what a controller reaches here; `disk_margin_min` in a requirements file "
        "(--requirements) states the margin the application needs",
    ),
    (
        "robustness",
        ("stab", "spectral", "robust", "vertex", "vertices"),
        "train over the parameter box ({robust}), or narrow the parameter ranges (`range` in the plant file); "
        "compare with `symctl validate lqg --task {task}`",
    ),
    (
        "success",
        ("success",),
        "a larger synthesis budget (--budget paper); where the trajectories end still settling, a longer horizon "
        "(`horizon` in the task file); where they settle off the target, integral action (`symctl validate lqg-i "
        "--task {task}`, and GP-D started from it with --seed-policy lqg-i)",
    ),
)
_GENERIC = "read the row's evidence in report.html; a larger budget (--budget paper) or another --method may help"


def _robust_option() -> str:
    """How to ask for robust training: the run option whose name says so, when there is one."""
    from ._config import RUN_OPTIONS

    keys = [k for k in RUN_OPTIONS if "robust" in k]
    return f"robust training, --{keys[0].replace('_', '-')}" if keys else "robust training"


def hint_kind(name: str, task: str | None = None) -> tuple[str, str]:
    """The kind of a certificate row, from its name, and what to try when it fails."""
    low = name.lower()
    for kind, words, hint in _HINTS:
        if any(w in low for w in words):
            return kind, hint.format(robust=_robust_option(), task=task or "TASK")
    return "other", _GENERIC


def failed_rows(certificate: dict | None) -> list[dict]:
    return [row for row in (certificate or {}).get("rows", []) if row.get("status") == "FAIL"]


def certificate_failed(certificate: dict | None) -> bool:
    """True when the verdict is FAIL (or missing while a row failed)."""
    cert = certificate or {}
    return cert.get("verdict") == "FAIL" or bool(failed_rows(cert))


def c_failed(codegen_report: dict | None) -> bool:
    """True when a C verification ran and failed (a report without `ok` has not run)."""
    return codegen_report is not None and codegen_report.get("ok") is False


def exit_status(certificate: dict | None, codegen_report: dict | None = None, allow_fail: bool = False) -> int:
    """3 when the certificate or the C verification failed, unless `allow_fail`; 0 otherwise."""
    if allow_fail:
        return EXIT_OK
    return EXIT_FAILED if certificate_failed(certificate) or c_failed(codegen_report) else EXIT_OK


def _value(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


# The LQG variants validation compares beside a policy, as the summaries name them.
VARIANT_NAMES = {
    "lqg-ss": "steady-state LQG",
    "lqg-i": "steady-state LQG with integral action",
    "lqg-p": "LQG estimating the varying parameters",
}


def _success_evidence(monte_carlo: dict | None, task: str | None) -> str | None:
    """The success hint from the Monte Carlo itself, when an LQG that removes offsets (compared where
    parameters vary: with integral action, or estimating the parameters) succeeds more often than
    the policy: the failure is an offset."""
    policies = (monte_carlo or {}).get("policies") or {}
    mine = ((policies.get("policy") or {}).get("success") or {}).get("rate")
    rates = {v: ((policies.get(v) or {}).get("success") or {}).get("rate") for v in ("lqg-i", "lqg-p")}
    rates = {v: r for v, r in rates.items() if r is not None}
    if mine is None or not rates:
        return None
    best = max(rates, key=lambda v: (rates[v], v == "lqg-i"))  # a tie goes to lqg-i, which GP-D can start from
    if not rates[best] > mine:
        return None
    advice = "start GP-D from it (--seed-policy lqg-i), or validate it alone" if best == "lqg-i" else "validate it"
    return (
        f"the {VARIANT_NAMES[best]} succeeds on {rates[best]:.3f} of the same trajectories (this policy {mine:.3f}): "
        f"the misses are offsets; {advice} (`symctl validate {best} --task {task or 'TASK'}`)"
    )


def _cost_evidence(monte_carlo: dict | None, task: str | None) -> str | None:
    """The cost hint from the Monte Carlo itself, when an LQG variant compared beside the policy
    costs less on the same trajectories: the user can certify that one instead."""
    policies = (monte_carlo or {}).get("policies") or {}
    mine = (policies.get("policy") or {}).get("mean")
    costs = {v: (policies.get(v) or {}).get("mean") for v in VARIANT_NAMES}
    costs = {v: c for v, c in costs.items() if isinstance(c, (int, float)) and math.isfinite(c)}
    if not isinstance(mine, (int, float)) or not costs:
        return None
    best = min(costs, key=costs.get)
    if not costs[best] < mine:
        return None
    return (
        f"the {VARIANT_NAMES[best]} costs {costs[best]:.4g} on the same trajectories (this policy {mine:.4g}): "
        f"validate it (`symctl validate {best} --task {task or 'TASK'}`); or a larger synthesis budget (--budget paper)"
    )


def _float_round_off(codegen_report: dict | None) -> bool:
    """True when a float build failed on trajectory error (not on a crash, a probe or a status)."""
    report = codegen_report or {}
    if report.get("real") != "float":
        return False
    checks = [c for target in ("host", "cortex-m4") for c in (report.get(target) or {}).values() if isinstance(c, dict)]
    return any(c.get("over_tolerance") for c in checks)


def failure_lines(
    certificate: dict | None,
    codegen_report: dict | None = None,
    c_log: str | Path | None = None,
    task: str | None = None,
    monte_carlo: dict | None = None,
) -> list[str]:
    """What failed (row, value, requirement) and one line of what to try per kind of failure; empty
    when nothing failed. `monte_carlo` (validation.json's) lets the success hint read the evidence."""
    rows = failed_rows(certificate)
    c_bad = c_failed(codegen_report)
    if not rows and not c_bad and not certificate_failed(certificate):
        return []
    lines = ["what failed"]
    hints: dict[str, str] = {}
    for row in rows:
        evidence = "" if row.get("value") is not None else f"; {row.get('evidence', '')}"
        lines.append(f"  {row.get('name', '?')}: {_value(row.get('value'))} (required: {row.get('requirement', '?')}{evidence})")
        kind, hint = hint_kind(str(row.get("name", "")), task)
        if kind == "success":
            hint = _success_evidence(monte_carlo, task) or hint
        if kind == "cost":
            hint = _cost_evidence(monte_carlo, task) or hint
        hints.setdefault(kind, hint)
    if certificate_failed(certificate) and not rows:
        lines.append("  certificate: verdict FAIL")
        hints.setdefault("other", _GENERIC)
    if c_bad:
        lines.append("  C verification: FAIL")
        hints["C"] = f"see {c_log}" if c_log else "see the verification log (c/verification.log)"
        if _float_round_off(codegen_report):
            hints["C"] += (
                "; the float build misses its tolerance on the trajectory, which a long recursion (a Kalman filter's "
                "covariance) can do in float32: generate double (--real double)"
            )
    lines.append("what to try")
    lines.extend(f"  {kind}: {hint}" for kind, hint in hints.items())
    return lines


def one_line(certificate: dict | None, codegen_report: dict | None = None) -> str:
    """The failures in one line (for --quiet and --json, on stderr)."""
    parts = [str(row.get("name", "?")) for row in failed_rows(certificate)]
    if certificate_failed(certificate) and not parts:
        parts.append("certificate")
    if c_failed(codegen_report):
        parts.append("C verification")
    return "FAIL: " + ", ".join(parts)
