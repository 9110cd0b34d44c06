"""The verification harness: rendering it with recorded data, reading its output, judging it.

Shared by the host checks (`_verify.py`) and the Cortex-M4 checks (`_cross.py`), with the strict
flags both build with and the run of a built harness. The harness replays
recorded observations segment by segment (a segment is one recorded trajectory; the controller is
re-initialised at its start), printing status, control and latent state after every tick, then
probes non-finite and huge observations from the final state.

Error measure ("relative on the trajectory scale"): for each output channel j (every control and
every latent state) `err_j = max_k |c_jk - ref_jk| / max_k |ref_jk|`, with the reference the numpy
float64 `SymbolicPolicy.run_reference`. A pointwise relative error is meaningless where a signal
crosses zero; scaling by the channel's largest magnitude is what "agrees to 1e-5" means for a
trajectory. A channel that is identically zero in the reference is compared absolutely.

Tolerance: float code to 1e-5, double code to 1e-12, or `ROUNDOFF_FACTOR` times the channel's
`float_roundoff` when that is larger (float only: the reference replayed in float32 against the
float64 one, the round-off no float implementation avoids); a float round-off beyond
`ILL_CONDITIONED` fails: such a policy needs double.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np

from synth import SymbolicPolicy

from ._render import GeneratedCode, render

TOLERANCE = {"float": 1e-5, "double": 1e-12}
# A float channel's tolerance is also at least this many times the policy's own single-precision
# round-off on the recording (`float_roundoff`): no float implementation does much better than it.
ROUNDOFF_FACTOR = 4.0
# Single-precision round-off beyond this fails verification outright: the policy needs double.
ILL_CONDITIONED = 1e-3
PROBES = {
    "float": [("NAN", math.nan), ("INFINITY", math.inf), ("-INFINITY", -math.inf), ("1.0e30F", 1e30), ("-3.0e38F", -3e38)],
    "double": [
        ("(double)NAN", math.nan),
        ("(double)INFINITY", math.inf),
        ("-(double)INFINITY", -math.inf),
        ("1.0e300", 1e300),
        ("-1.7e308", -1.7e308),
    ],
}


# Warnings every build of generated code must pass (host and cross compilers).
STRICT_FLAGS = [
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-Wdouble-promotion",
    "-Wfloat-conversion",
    "-ffp-contract=off",
]


class VerificationFailed(RuntimeError):
    """A generated controller failed a check; the message names the check and shows the evidence."""


def as_segments(policy: SymbolicPolicy, ys, r) -> tuple[np.ndarray, np.ndarray]:
    """Observations as (segments, ticks, ny) and targets as (segments, nr), float64."""
    ys = np.asarray(ys, dtype=float)
    if ys.ndim == 2:
        ys = ys[None]
    if ys.ndim != 3 or ys.shape[2] != policy.ny:
        raise ValueError(f"observations must have shape (segments, ticks, {policy.ny}) or (ticks, {policy.ny}); got {ys.shape}")
    r = np.zeros((ys.shape[0], policy.nr)) if r is None else np.asarray(r, dtype=float)
    if r.ndim == 1:
        r = np.broadcast_to(r, (ys.shape[0], policy.nr))
    if r.shape != (ys.shape[0], policy.nr):
        raise ValueError(f"targets must have shape ({ys.shape[0]}, {policy.nr}); got {r.shape}")
    return ys, np.ascontiguousarray(r)


def _rows(values: np.ndarray, per_row: int = 4) -> list[str]:
    flat = [float(v).hex() for v in np.asarray(values, dtype=float).ravel()] or ["0x0.0p+0"]
    return [", ".join(flat[i : i + per_row]) + "," for i in range(0, len(flat), per_row)]


def harness_context(code: GeneratedCode, ys: np.ndarray, r: np.ndarray) -> dict:
    ctx = dict(code.context)
    ctx.update(
        segments=ys.shape[0],
        ticks=ys.shape[1],
        y_rows=_rows(ys),
        r_rows=_rows(r),
        probes=[c for c, _ in PROBES[code.real]],
        fmt="%.9g" if code.real == "float" else "%.17g",
        zero="0.0F" if code.real == "float" else "0.0",
    )
    return ctx


def write_harness(code: GeneratedCode, ys, r, work: Path, template: str = "c/harness.c.j2", name: str = "harness.c") -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / name
    path.write_text(render(template, harness_context(code, ys, r)), encoding="utf-8")
    return path


@dataclasses.dataclass
class HarnessOutput:
    status: np.ndarray  # (S, T)
    u: np.ndarray  # (S, T, nu)
    z: np.ndarray  # (S, T+1, nz)
    probes: list  # (obs index, probe index, status, u, z) for P rows, then Q rows
    after: list
    faults: int


def parse_output(text: str, nu: int, nz: int, segments: int, ticks: int) -> HarnessOutput:
    status = np.full((segments, ticks), -1, dtype=int)
    u = np.full((segments, ticks, nu), np.nan)
    z = np.full((segments, ticks + 1, nz), np.nan)
    probes, after, faults = [], [], None
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "END":
            faults = int(parts[1])
            continue
        if parts[0] not in ("I", "T", "P", "Q") or len(parts) != 4 + nu + nz:
            continue
        a, b, st = int(parts[1]), int(parts[2]), int(parts[3])
        vals = np.array([float(v) for v in parts[4:]])
        uu, zz = vals[:nu], vals[nu:]
        if parts[0] == "I":
            z[a, 0] = zz
        elif parts[0] == "T":
            status[a, b] = st
            u[a, b] = uu
            z[a, b + 1] = zz
        elif parts[0] == "P":
            probes.append((a, b, st, uu, zz))
        else:
            after.append((a, b, st, uu, zz))
    if faults is None:
        raise VerificationFailed("the harness did not finish (no END line); output:\n" + text[-2000:])
    return HarnessOutput(status, u, z, probes, after, faults)


class Reference(NamedTuple):
    """What generated code is judged against: the float64 reference's controls (S, T, nu) and latent
    states (S, T+1, nz), and each channel's `float_roundoff` in the code's precision."""

    u: np.ndarray
    z: np.ndarray
    roundoff: dict[str, float]


def reference_trajectories(policy: SymbolicPolicy, ys: np.ndarray, r: np.ndarray, real: str = "double") -> Reference:
    """`run_reference` per segment, and the round-off of code in `real` on it (computed once for
    every build that replays the recording)."""
    ref_u, ref_z = [], []
    for s in range(ys.shape[0]):
        uu, zz = policy.run_reference(ys[s], r[s])
        ref_u.append(uu)
        ref_z.append(zz)
    u, z = np.array(ref_u), np.array(ref_z)
    return Reference(u, z, float_roundoff(policy, ys, r, (u, z), real))


def float_roundoff(
    policy: SymbolicPolicy, ys: np.ndarray, r: np.ndarray, reference: tuple[np.ndarray, np.ndarray], real: str
) -> dict[str, float]:
    """Per channel, the error (trajectory scale) of the reference replayed in single precision
    (`run_reference(..., dtype=float32)`: observations, targets, state and every operation in
    float32) against the float64 one: what single-precision arithmetic makes of this policy on this
    recording, whatever the implementation. A latent state that integrates a small difference of
    large signals (an operating point folded into the constants) loses much of each increment to
    it; a readout that takes a small difference of large terms magnifies it. Zero for double."""
    names = (*[f"u:{c}" for c in policy.controls], *[f"z:{z}" for z in policy.latent])
    if real != "float":
        return dict.fromkeys(names, 0.0)
    runs = [policy.run_reference(ys[s], r[s], dtype=np.float32) for s in range(ys.shape[0])]
    u, z = np.array([a for a, _ in runs]), np.array([b for _, b in runs])
    return {name: e["rel"] for name, e in _errors(policy, u, z, reference).items()}


def trajectory_errors(policy: SymbolicPolicy, out: HarnessOutput, reference: tuple[np.ndarray, np.ndarray]) -> dict:
    """Per-channel errors on the trajectory scale (see module docstring) against `run_reference`."""
    return _errors(policy, out.u, out.z, reference)


def _errors(policy: SymbolicPolicy, u: np.ndarray, z: np.ndarray, reference) -> dict:
    ref_u, ref_z = reference[0], reference[1]
    channels = {}
    for j, name in enumerate(policy.controls):
        channels[f"u:{name}"] = (u[..., j], ref_u[..., j])
    for j, name in enumerate(policy.latent):
        channels[f"z:{name}"] = (z[..., j], ref_z[..., j])
    errors = {}
    for name, (c, ref) in channels.items():
        if not np.all(np.isfinite(ref)):
            raise VerificationFailed(f"the Python reference is not finite on channel {name}; record a finite trajectory")
        scale = float(np.max(np.abs(ref)))
        diff = np.abs(c - ref)
        err = float(np.max(diff)) if np.all(np.isfinite(c)) else math.inf
        errors[name] = {"max_abs": err, "scale": scale, "rel": err / scale if scale > 0 else err}
    return errors


def check_probes(
    policy: SymbolicPolicy, out: HarnessOutput, real: str, safe: list[float], last_y: np.ndarray, last_r: np.ndarray
) -> dict:
    """Non-finite/huge observation probes (from the final state, with observation j of the final
    tick replaced): caught -> safe output and z reset to z0; not caught -> finite outputs, and only
    allowed when the float64 reference stays finite too."""
    ref = policy.reference()
    cast = (lambda v: np.float32(v).astype(float)) if real == "float" else (lambda v: np.asarray(v, float))
    safe_c = cast(np.array(safe))
    init_c = cast(np.array(policy.latent_init))
    z_end = out.z[-1, -1]
    problems, caught = [], 0
    for (j, p, st, uu, zz), (_, _, _, uu2, zz2) in zip(out.probes, out.after, strict=True):
        value = PROBES[real][p][1]
        y = np.array(last_y, dtype=float)
        y[j] = value
        with np.errstate(all="ignore"):
            ru, rz = ref.step(z_end, y, last_r)
        ref_finite = bool(np.all(np.isfinite(ru)) and np.all(np.isfinite(rz)))
        label = f"y[{j}] = {PROBES[real][p][0]}"
        if st != 0:
            caught += 1
            if not (np.array_equal(cast(uu), safe_c) and np.array_equal(cast(zz), init_c)):
                problems.append(
                    f"{label}: status {st} but u = {uu.tolist()}, z = {zz.tolist()} (expected safe output {safe_c.tolist()} and z0)"
                )
        else:
            if not (np.all(np.isfinite(uu)) and np.all(np.isfinite(zz))):
                problems.append(f"{label}: status 0 with non-finite output u = {uu.tolist()}, z = {zz.tolist()}")
            if not ref_finite:
                problems.append(f"{label}: the reference is non-finite but the C step returned status 0")
        if not (np.all(np.isfinite(uu2)) and np.all(np.isfinite(zz2))):
            problems.append(f"{label}: the step after the probe returned non-finite values")
    return {"probes": len(out.probes), "caught": caught, "problems": problems}


def judge(
    policy: SymbolicPolicy, out: HarnessOutput, ys: np.ndarray, r: np.ndarray, real: str, safe: list[float], reference: Reference
) -> dict:
    """Errors, statuses and probes of one harness run, with `ok` and the reasons when not ok."""
    errors = trajectory_errors(policy, out, reference)
    worst = max(e["rel"] for e in errors.values())
    roundoff = reference.roundoff
    tols = {k: max(TOLERANCE[real], ROUNDOFF_FACTOR * roundoff[k]) for k in errors}
    tol = max(tols.values())
    probes = check_probes(policy, out, real, safe, ys[-1, -1], r[-1])
    reasons = []
    if max(roundoff.values()) > ILL_CONDITIONED:
        reasons.append(
            f"the policy itself loses {max(roundoff.values()):.3g} of its trajectory scale to {real} round-off "
            f"on this recording (more than {ILL_CONDITIONED:g}): generate double"
        )
    bad = {k: v["rel"] for k, v in errors.items() if v["rel"] > tols[k]}
    if bad:
        over = ", ".join(f"{k} {v:.3g} > {tols[k]:.3g}" for k, v in sorted(bad.items(), key=lambda kv: -kv[1] / tols[kv[0]]))
        reasons.append(f"trajectory error above the channel's tolerance on {over}")
    if np.any(out.status != 0):
        reasons.append(f"{int(np.sum(out.status != 0))} recorded ticks returned a non-zero status")
    reasons.extend(probes["problems"])
    return {
        "ok": not reasons,
        "max_rel_error": worst,
        "tolerance": tol,
        "float_roundoff": max(roundoff.values()),
        "errors": errors,
        "over_tolerance": bad,  # channel -> error, for the channels past their own tolerance
        "probes": probes,
        "ticks": int(ys.shape[0] * ys.shape[1]),
        "reasons": reasons,
    }


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 120.0, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def single_header_stub(code: GeneratedCode, work: Path) -> Path:
    """A translation unit that includes a single-header controller and calls it, so that the
    controller compiles on its own under strict warnings."""
    p, rt = code.prefix, code.context["real_t"]
    stub = work / f"{p}_stub.c"
    stub.write_text(
        f'#include "{p}.h"\n\n'
        f"void {p}_probe_init({p}_state_t *state);\n"
        f"int {p}_probe_step({p}_state_t *state, const {rt} *y, const {rt} *r, {rt} *u);\n\n"
        f"void {p}_probe_init({p}_state_t *state)\n{{\n    {p}_init(state);\n}}\n\n"
        f"int {p}_probe_step({p}_state_t *state, const {rt} *y, const {rt} *r, {rt} *u)\n{{\n"
        f"    return {p}_step(state, y, r, u);\n}}\n",
        encoding="utf-8",
    )
    return stub


def run_harness(exe_cmd: list[str], policy: SymbolicPolicy, code: GeneratedCode, ys, r, reference, env=None, timeout=120.0):
    """Run a built harness (`exe_cmd`: on the host, or under QEMU) and judge its output against
    `reference`; raises `VerificationFailed` if it does not exit cleanly."""
    res = run(exe_cmd, env=env, timeout=timeout)
    text = res.stdout + "\n" + res.stderr
    if res.returncode != 0:
        raise VerificationFailed(f"{' '.join(exe_cmd)} exited with status {res.returncode}:\n{text[-4000:]}")
    out = parse_output(text, policy.nu, policy.nz, ys.shape[0], ys.shape[1])
    return judge(policy, out, ys, r, code.real, code.context["safe_values"], reference)
