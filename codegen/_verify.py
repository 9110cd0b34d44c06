"""Host verification: strict gcc/clang builds, replay against the Python reference, ASan+UBSan, cppcheck.

`verify` is the entry point for the CLI and the pipeline: it runs every check whose tools exist
(host; and the Cortex-M4F checks of `_cross.py` when asked) and returns a report dict, written as
JSON and as a readable log when `log` is given. Checks whose tool is missing are reported as
skipped with the reason, never as passed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from synth import SymbolicPolicy
from synth._json import jsonable

from ._harness import (
    STRICT_FLAGS,
    VerificationFailed,
    as_segments,
    reference_trajectories,
    run,
    run_harness,
    single_header_stub,
    write_harness,
)
from ._render import GeneratedCode

SANITIZE_FLAGS = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
TARGETS = ("host", "cortex-m4")


def host_compilers() -> list[str]:
    return [cc for cc in ("gcc", "clang") if shutil.which(cc)]


def compile_c(cc: str, sources: list[Path], output: Path, include: Path, flags: list[str], libs=("-lm",)) -> None:
    cmd = [cc, *flags, "-I", str(include), *map(str, sources), "-o", str(output), *libs]
    res = run(cmd)
    if res.returncode != 0:
        raise VerificationFailed(f"{cc} build failed: {' '.join(cmd)}\n{res.stderr[-4000:]}")


def compile_object(cc: str, code: GeneratedCode, work: Path, flags: list[str]) -> None:
    """Compile the controller alone (a stub TU for a single header) with strict warnings."""
    srcs = code.sources or [single_header_stub(code, work)]
    for src in srcs + [code.example_main]:
        res = run([cc, *flags, "-I", str(code.out_dir), "-c", str(src), "-o", str(work / (src.stem + f".{cc}.o"))])
        if res.returncode != 0:
            raise VerificationFailed(f"{cc} strict build of {src.name} failed:\n{res.stderr[-4000:]}")


def cppcheck(code: GeneratedCode) -> dict:
    if not shutil.which("cppcheck"):
        return {"skipped": "cppcheck is not installed"}
    files = [str(p) for p in (code.sources or [code.header])]
    cmd = [
        "cppcheck",
        "--std=c99",
        "--language=c",
        "--enable=all",
        "--inconclusive",
        "--quiet",
        "--suppress=missingIncludeSystem",
        "--suppress=unusedFunction",
        "--suppress=unmatchedSuppression",
        # the policy says log(1 + x): printing log1p would change the exported arithmetic
        "--suppress=unpreciseMathCall",
        "--error-exitcode=1",
        "--template={file}:{line}: {severity}: {message} [{id}]",
        "-I",
        str(code.out_dir),
        *files,
    ]
    res = run(cmd)
    findings = [line for line in res.stderr.splitlines() if line.strip()]
    return {"ok": res.returncode == 0 and not findings, "findings": findings, "command": " ".join(cmd)}


def verify_host(policy: SymbolicPolicy, code: GeneratedCode, ys, r, work: Path, reference) -> dict:
    report: dict = {}
    ccs = host_compilers()
    if not ccs:
        return {"skipped": "no host C compiler (gcc or clang) found"}
    harness = write_harness(code, ys, r, work)
    for cc in ccs:
        entry: dict = {}
        try:
            compile_object(cc, code, work, [*STRICT_FLAGS, "-O2"])
            exe = work / f"harness_{cc}"
            compile_c(cc, [harness, *code.sources], exe, code.out_dir, [*STRICT_FLAGS, "-O2"])
            entry.update(run_harness([str(exe)], policy, code, ys, r, reference))
        except VerificationFailed as err:
            entry = {"ok": False, "reasons": [str(err)]}
        report[cc] = entry
    # sanitizers (gcc first; clang if gcc is missing)
    cc = ccs[0]
    try:
        exe = work / "harness_asan"
        compile_c(cc, [harness, *code.sources], exe, code.out_dir, [*STRICT_FLAGS, *SANITIZE_FLAGS])
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
        san = run_harness([str(exe)], policy, code, ys, r, reference, env=env, timeout=300.0)
        san["compiler"] = cc
        report["sanitizers"] = san
    except VerificationFailed as err:
        report["sanitizers"] = {"ok": False, "compiler": cc, "reasons": [str(err)]}
    report["cppcheck"] = cppcheck(code)
    return report


def _ok(section: dict) -> bool:
    if "skipped" in section:
        return True
    if "ok" in section:
        return bool(section["ok"])
    return all(_ok(v) for v in section.values() if isinstance(v, dict))


def verify(
    policy: SymbolicPolicy,
    code: GeneratedCode,
    ys,
    r=None,
    *,
    targets=("host", "cortex-m4"),
    work_dir: str | Path | None = None,
    log: str | Path | None = None,
    recorded_u=None,
) -> dict:
    """Verify generated C against the Python float64 reference of the same discrete controller.

    `ys`: recorded observations, (ticks, ny) or (segments, ticks, ny) (e.g. `Rollout.y` of
    `Simulator.simulate(policy, scenarios, save=True)`); `r`: targets per segment (segments, nr) or
    (nr,). The C controller replays them and is compared with `policy.run_reference` on the
    trajectory scale (see `codegen._harness`): float code to 1e-5 (or 4 x the policy's own float32
    round-off on the recording, when larger), double code to 1e-12. Host:
    gcc and clang with -Werror and the strict flags, ASan+UBSan on the same data plus NaN/Inf/huge
    observations, cppcheck. `cortex-m4`: cross build, QEMU mps2-an386 run, sizes, stack and
    instructions per step (`codegen._cross`). `recorded_u`, if given, is the simulator's control
    record; its difference from the reference is reported for information.

    Returns the report dict (`ok` is False if any check that ran failed); writes `log` (text) and
    `log` + ".json" when given.
    """
    ys, r = as_segments(policy, ys, r)
    work = Path(work_dir) if work_dir else code.out_dir / "verify"
    work.mkdir(parents=True, exist_ok=True)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        from ._builder import CodegenError

        raise CodegenError(f"--target {unknown[0]!r} is not valid; use host or cortex-m4")
    report: dict = {
        "prefix": code.prefix,
        "real": code.real,
        "single_header": code.single_header,
        "policy_sha256": policy.digest(),
        "ticks": int(ys.shape[0] * ys.shape[1]),
        "segments": int(ys.shape[0]),
    }
    reference = reference_trajectories(policy, ys, r, code.real)
    if recorded_u is not None:
        ref_u = reference[0]
        rec = np.asarray(recorded_u, dtype=float).reshape(ref_u.shape)
        scale = float(np.max(np.abs(ref_u))) or 1.0
        report["simulator_vs_reference"] = float(np.max(np.abs(rec - ref_u)) / scale)
    if "host" in targets:
        report["host"] = verify_host(policy, code, ys, r, work / "host", reference)
    if "cortex-m4" in targets:
        from ._cross import verify_cortex_m4

        report["cortex-m4"] = verify_cortex_m4(policy, code, ys, r, work / "cortex-m4", reference)
    report["ok"] = all(_ok(report[k]) for k in ("host", "cortex-m4") if k in report)
    if log:
        write_log(report, Path(log))
    return report


def write_log(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(path.suffix + ".json").write_text(
        json.dumps(jsonable(report), indent=2, default=float) + "\n", encoding="utf-8"
    )
    path.write_text("\n".join(summary_lines(report)) + "\n", encoding="utf-8")


def summary_lines(report: dict) -> list[str]:
    """A readable summary of a verification report (what the CLI prints)."""
    lines = [
        f"verification of {report['prefix']} ({report['real']}, policy {report['policy_sha256'][:12]}), "
        f"{report['ticks']} ticks in {report['segments']} segment(s): {'PASS' if report['ok'] else 'FAIL'}"
    ]
    if "simulator_vs_reference" in report:
        lines.append(f"  simulator vs Python reference (controls, trajectory scale): {report['simulator_vs_reference']:.3g}")
    for target in ("host", "cortex-m4"):
        sec = report.get(target)
        if sec is None:
            continue
        if "skipped" in sec:
            lines.append(f"  {target}: skipped ({sec['skipped']})")
            continue
        for name, entry in sec.items():
            if not isinstance(entry, dict):
                continue
            if "skipped" in entry:
                lines.append(f"  {target} {name}: skipped ({entry['skipped']})")
            elif entry.get("ok") is False and "max_rel_error" not in entry and name != "cppcheck":
                lines.append(f"  {target} {name}: FAIL")
            elif "max_rel_error" in entry:
                pr = entry["probes"]
                lines.append(
                    f"  {target} {name}: {'ok' if entry['ok'] else 'FAIL'}  max error {entry['max_rel_error']:.3g} "
                    f"(tolerance {entry['tolerance']:.3g}{_roundoff_note(entry)}), probes {pr['caught']}/{pr['probes']} caught"
                )
            elif name == "cppcheck":
                lines.append(f"  {target} cppcheck: {'clean' if entry['ok'] else 'FINDINGS'}")
            elif name == "size":
                lines.append(
                    f"  {target} size: controller .text {entry['controller_text']} B, libm and runtime pulled in "
                    f"{entry['libm_text']} B ({entry['libc']}, -O2)"
                )
            elif name == "stack":
                lines.append(f"  {target} stack: step {entry['step_bytes']} B (frames: {entry['frames']})")
            elif name == "instructions":
                lines.append(
                    f"  {target} instructions/step: mean {entry['mean']:.1f}, min {entry['min']}, max {entry['max']} "
                    f"(marker overhead {entry['overhead']} subtracted)"
                )
            if entry.get("reasons") and not entry.get("ok", True):
                lines.extend("    " + line for reason in entry["reasons"] for line in str(reason).splitlines()[:20])
    return lines


def _roundoff_note(entry: dict) -> str:
    """ ", raised to 4 x the policy's own float32 round-off 3.6e-06" when that set the tolerance."""
    from ._harness import ROUNDOFF_FACTOR

    r = entry.get("float_roundoff", 0.0)
    if r <= 0.0 or ROUNDOFF_FACTOR * r < entry["tolerance"]:
        return ""
    return f", raised to {ROUNDOFF_FACTOR:g} x the policy's own float32 round-off {r:.2g}"
