"""What the Python API returns, and the JSON of `--json`: one summary of each result for both.

`Validation` (from `symctl.validate`), `CCode` (from `symctl.generate_c`) and `RunSummary` (from
`symctl.run`) hold the results the commands print; `to_dict()` is what `symctl validate`,
`symctl codegen` and `symctl run` print with `--json`, and `policy_summary` what `symctl synth
--json` prints about the policy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from synth import SymbolicPolicy


def policy_file(policy: Any) -> str:
    """The file a policy is written to in its run folder: `policy.json`, or a network policy's
    `network.json` (with its `network.npz`)."""
    from synth._controller import AbstractNetworkPolicy

    return "network.json" if isinstance(policy, AbstractNetworkPolicy) else "policy.json"


def policy_summary(policy: SymbolicPolicy, file: str | Path | None = None) -> dict[str, Any]:
    """The policy in a JSON summary: its digest (`SymbolicPolicy.digest`), names and equations
    (a network policy: its architecture instead of equations)."""
    from synth._controller import AbstractNetworkPolicy

    if isinstance(policy, AbstractNetworkPolicy):
        return {"file": str(file) if file is not None else None, **policy.summary()}
    d = policy.to_dict()
    return {
        "file": str(file) if file is not None else None,
        "digest": policy.digest(),
        "kind": d["kind"],
        "observations": d["observations"],
        "targets": d["targets"],
        "latent": d["latent"],
        "controls": d["controls"],
        "f": [e["text"] for e in d["f"]],
        "g": [e["text"] for e in d["g"]],
        "integrator": d["integrator"],
        "dt": d["dt"],
    }


def _number(v: Any) -> float | None:
    """A figure as a float, None when missing (`synth._json.jsonable` writes a non-finite one as "inf" or "nan")."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def cost_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The Monte Carlo figures of validation results: mean costs, and the policy's ratio to LQG with its 95% CI."""
    mc = results.get("monte_carlo", {}).get("policies", {})
    mine = mc.get("policy", {})
    ratio = mine.get("ratio_to_lqg", {})
    lo, hi = (ratio.get("ci95") or [None, None])[:2]
    return {
        "policy": _number(mine.get("mean")),
        "lqg": _number(mc.get("lqg", {}).get("mean")),
        "lqg_ss": _number(mc.get("lqg-ss", {}).get("mean")),
        "ratio_to_lqg": _number(ratio.get("ratio")),
        "ratio_ci95": [_number(lo), _number(hi)],
    }


def certificate_summary(certificate: dict[str, Any] | None) -> dict[str, Any]:
    """The certificate's verdict and the names of its failed rows."""
    from ._verdict import failed_rows

    cert = certificate or {}
    return {"verdict": cert.get("verdict"), "failed": [row.get("name") for row in failed_rows(cert)]}


@dataclasses.dataclass(frozen=True)
class Validation:
    """The outcome of `symctl.validate`: the results written to `validation.json`, and the folder
    holding them and `report.html`.

    Attributes
    ----------
    results : dict
        The content of `validation.json` (Monte Carlo, sweeps, worst case, margins, certificate).
    out : Path
        The folder of `validation.json` and `report.html`.
    """

    results: dict[str, Any]
    out: Path

    @property
    def certificate(self) -> dict[str, Any]:
        """The certificate: `verdict` ("PASS" or "FAIL") and its `rows`."""
        return self.results.get("certificate", {})

    @property
    def verdict(self) -> str:
        """ "PASS" or "FAIL"."""
        return self.certificate.get("verdict", "not computed")

    @property
    def passed(self) -> bool:
        """True when the certificate passes (what exit status 0 of `symctl validate` says)."""
        from ._verdict import certificate_failed

        return not certificate_failed(self.certificate)

    @property
    def cost(self) -> dict[str, Any]:
        """Mean costs of the policy, LQG and steady-state LQG, and the ratio to LQG with its 95% CI."""
        return cost_summary(self.results)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `symctl validate --json`."""
        from synth._json import jsonable

        cert = self.certificate
        return jsonable({"verdict": cert.get("verdict"), "rows": cert.get("rows", []), "out": str(self.out), "cost": self.cost})


@dataclasses.dataclass(frozen=True)
class CCode:
    """The outcome of `symctl.generate_c`: the generated files and, when asked for, their verification.

    Attributes
    ----------
    code : codegen.GeneratedCode
        The files written (`header`, `source`, `example_main`, build fragments), prefix and real type.
    verification : dict or None
        `codegen.verify`'s report (`ok`, per target and compiler), None when not verified.
    log : Path or None
        The verification log (its JSON report is next to it, `<log>.json`).
    """

    code: Any
    verification: dict[str, Any] | None = None
    log: Path | None = None

    @property
    def files(self) -> list[Path]:
        return list(self.code.files)

    @property
    def ok(self) -> bool | None:
        """True or False when verified (the C agrees with the Python reference), None otherwise."""
        return None if self.verification is None else bool(self.verification.get("ok"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `symctl codegen --json`."""
        from synth._json import jsonable

        ver = self.verification
        return jsonable(
            {
                "out": str(self.code.out_dir),
                "prefix": self.code.prefix,
                "real": self.code.real,
                "single_header": self.code.single_header,
                "files": [str(p) for p in self.files],
                "verified": ver is not None,
                "ok": self.ok,
                "log": str(self.log) if self.log else None,
                "targets": [t for t in ("host", "cortex-m4") if ver is not None and t in ver],
            }
        )


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The outcome of `symctl.run` (and `symctl run`): the run folder, the exported policy, the
    validation results and the C verification report.

    Attributes
    ----------
    out : Path
        The run folder.
    task, method : str
        The task's name and the synthesis method.
    seed : int
    policy : SymbolicPolicy
        The exported policy (`out/policy.json`).
    validation : dict
        The content of `validation.json`.
    codegen : dict
        The content of `c/verification.json`.
    seconds : dict
        The seconds of each stage that ran (a stage found up to date is not listed).
    """

    out: Path
    task: str
    method: str
    seed: int
    policy: SymbolicPolicy
    validation: dict[str, Any]
    codegen: dict[str, Any]
    seconds: dict[str, float]

    @classmethod
    def from_pipeline(cls, summary: dict[str, Any], seed: int) -> RunSummary:
        """From the summary dict of `symctl._pipeline.run`."""
        return cls(
            Path(summary["out"]),
            summary["task"],
            summary["method"],
            seed,
            summary["policy"],
            summary["validation"],
            summary["codegen"],
            dict(summary.get("timings", {})),
        )

    @property
    def verdict(self) -> str:
        """The certificate's verdict, "PASS" or "FAIL"."""
        return self.validation.get("certificate", {}).get("verdict", "not computed")

    @property
    def c_ok(self) -> bool | None:
        """True when the generated C passed its verification (None: not verified)."""
        return self.codegen.get("ok") if "ok" in self.codegen else None

    @property
    def passed(self) -> bool:
        """True when the certificate passes and the C verifies: exit status 0 of `symctl run`."""
        from ._verdict import exit_status

        return exit_status(self.validation.get("certificate"), self.codegen) == 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `symctl run --json`."""
        from synth._json import jsonable

        return jsonable(
            {
                "out": str(self.out),
                "task": self.task,
                "method": self.method,
                "seed": self.seed,
                "policy": policy_summary(self.policy, self.out / policy_file(self.policy)),
                "cost": cost_summary(self.validation),
                "certificate": certificate_summary(self.validation.get("certificate")),
                "c": {"ok": self.c_ok, "files": [str(self.out / "c" / f) for f in self.codegen.get("files", [])]},
                "passed": self.passed,
                "report": str(self.out / "report.html"),
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            }
        )
