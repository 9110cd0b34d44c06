"""Cortex-M4F verification: cross build (arm-none-eabi-gcc + picolibc), QEMU mps2-an386 run, sizes,
stack use and instructions per step from symctl's own QEMU TCG plugin (`codegen/plugin/insncount.c`).

* run: the verification harness (same data and probes as on the host), semihosted, compared with
  the Python float64 reference under the same tolerance;
* size: `.text` of the controller object (-O2), and the bytes its calls pull in from libm/runtime,
  measured as the difference of two linked images that differ only by the controller calls
  (`size.c.j2`), minus the controller itself; the largest pulled-in symbols are listed;
* stack: `-fstack-usage` frames of the controller's functions (libm frames not included);
* instructions: exact guest instruction counts between `bench_begin`/`bench_end` around every
  `<prefix>_step` call on the recorded observations, minus the marker overhead measured on empty
  marker pairs. QEMU has no cycle model: these are instructions, not cycles.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from synth import SymbolicPolicy

from ._harness import STRICT_FLAGS, VerificationFailed, run, run_harness, single_header_stub, write_harness
from ._render import GeneratedCode

ARCH = ["-mthumb", "-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
PICOLIBC = ["--specs=picolibc.specs", "--oslib=semihost", "--crt0=semihost"]
MEMORY = [
    "-Wl,--defsym=__flash=0x0",
    "-Wl,--defsym=__flash_size=0x400000",
    "-Wl,--defsym=__ram=0x20000000",
    "-Wl,--defsym=__ram_size=0x400000",
]
QEMU = [
    "qemu-system-arm",
    "-M",
    "mps2-an386",
    "-cpu",
    "cortex-m4",
    "-nographic",
    "-monitor",
    "none",
    "-semihosting-config",
    "enable=on,target=native",
]
PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugin" / "insncount.c"
CC = "arm-none-eabi-gcc"


def missing_tools() -> list[str]:
    """The tools the Cortex-M4 checks need that are not installed (empty when all are)."""
    need = [CC, "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm"]
    missing = [t for t in need if not shutil.which(t)]
    if not missing and run([CC, *ARCH, "--specs=picolibc.specs", "-print-file-name=picolibc.ld"]).returncode != 0:
        missing.append("picolibc-arm-none-eabi")
    return missing


def _build(sources: list[Path], include: Path, out: Path, flags: list[str], extra=()) -> None:
    cmd = [
        CC,
        *ARCH,
        *PICOLIBC,
        *STRICT_FLAGS,
        *flags,
        "-I",
        str(include),
        *map(str, sources),
        "-o",
        str(out),
        *MEMORY,
        *extra,
        "-lm",
    ]
    res = run(cmd)
    if res.returncode != 0:
        raise VerificationFailed(f"cross build failed: {' '.join(cmd)}\n{res.stderr[-4000:]}")


def _text_size(path: Path) -> int:
    res = run(["arm-none-eabi-size", "-B", str(path)])
    if res.returncode != 0:
        raise VerificationFailed(f"arm-none-eabi-size {path}: {res.stderr}")
    return int(res.stdout.splitlines()[1].split()[0])


def _symbols(elf: Path) -> dict[str, int]:
    res = run(["arm-none-eabi-nm", "-S", "--size-sort", str(elf)])
    out = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            out[parts[3]] = int(parts[1], 16)
    return out


def _address(elf: Path, name: str) -> int:
    res = run(["arm-none-eabi-nm", str(elf)])
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise VerificationFailed(f"symbol {name} not found in {elf}")


def controller_object(code: GeneratedCode, work: Path, opt: str = "-O2") -> tuple[int, dict[str, int]]:
    """`.text` bytes of the controller alone, and its stack frames (-fstack-usage).

    The compiler runs in `work` (so nothing else lands in the caller's directory); every path it is
    given is absolute, so a relative run folder such as `runs/demo` works from any cwd.
    """
    work = work.resolve()
    src = (code.source or single_header_stub(code, work)).resolve()
    obj = work / f"{code.prefix}{opt}.o"
    cmd = [
        CC,
        *ARCH,
        *STRICT_FLAGS,
        opt,
        "-ffunction-sections",
        "-fstack-usage",
        "-I",
        str(code.out_dir.resolve()),
        "-c",
        str(src),
        "-o",
        str(obj),
    ]
    res = run(cmd, cwd=work)
    if res.returncode != 0:
        raise VerificationFailed(f"cross build of the controller failed: {' '.join(cmd)}\n{res.stderr[-4000:]}")
    frames = {}
    su = obj.with_suffix(".su")
    if su.exists():
        for line in su.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                frames[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    return _text_size(obj), frames


def measure_size(code: GeneratedCode, work: Path) -> dict:
    from ._render import render

    size_c = work / "size.c"
    size_c.write_text(render("c/size.c.j2", code.context), encoding="utf-8")
    with_elf, without_elf = work / "size_with.elf", work / "size_without.elf"
    _build(
        [size_c, *code.sources], code.out_dir, with_elf, ["-O2", "-DH_WITH_CONTROLLER", "-ffunction-sections", "-fdata-sections"]
    )
    _build([size_c], code.out_dir, without_elf, ["-O2", "-ffunction-sections", "-fdata-sections"])
    ctrl_text, frames = controller_object(code, work, "-O2")
    ctrl_text_os, _ = controller_object(code, work, "-Os")
    delta = _text_size(with_elf) - _text_size(without_elf)
    before, after = _symbols(without_elf), _symbols(with_elf)
    pulled = {k: v for k, v in after.items() if k not in before and not k.startswith(code.prefix + "_") and k != "main"}
    top = sorted(pulled.items(), key=lambda kv: -kv[1])[:12]
    step = frames.get(f"{code.prefix}_step", 0)
    callee = sum(v for k, v in frames.items() if k != f"{code.prefix}_step" and k.startswith(code.prefix))
    return {
        "size": {
            "controller_text": ctrl_text,
            "controller_text_Os": ctrl_text_os,
            "image_delta": delta,
            "libm_text": delta - ctrl_text,
            "pulled_in": dict(top),
            "libc": "picolibc",
        },
        "stack": {
            "frames": frames,
            "step_bytes": step + callee,
            "note": "step frame plus the frames of the controller's other functions (an upper bound); libm frames not included",
        },
    }


def build_plugin(work: Path) -> Path:
    lib = work / "libinsncount.so"
    if not shutil.which("gcc"):
        raise VerificationFailed("gcc is needed to build the QEMU plugin")
    res = run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o", str(lib), str(PLUGIN_SOURCE)])
    if res.returncode != 0:
        raise VerificationFailed(f"building the QEMU plugin failed:\n{res.stderr}")
    return lib


def count_instructions(code: GeneratedCode, ys, r, work: Path) -> dict:
    from ._harness import harness_context
    from ._render import render

    bench_c = work / "bench.c"
    ctx = harness_context(code, ys[:1], r[:1])
    bench_c.write_text(render("c/bench.c.j2", ctx), encoding="utf-8")
    elf = work / "bench.elf"
    _build([bench_c, *code.sources], code.out_dir, elf, ["-O2"])
    plugin = build_plugin(work)
    counts_file = work / "insncount.txt"
    begin, end = _address(elf, "bench_begin"), _address(elf, "bench_end")
    cmd = [*QEMU, "-plugin", f"{plugin},begin={begin:#x},end={end:#x},out={counts_file}", "-kernel", str(elf)]
    res = run(cmd, timeout=300.0)
    if res.returncode != 0:
        raise VerificationFailed(f"QEMU bench run failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")
    counts = [int(x) for x in counts_file.read_text().split("\n")[1:] if x.strip()]
    cal, steps = counts[:16], counts[16:]
    if len(steps) != ys.shape[1]:
        raise VerificationFailed(f"expected {ys.shape[1]} counted steps, the plugin recorded {len(steps)}")
    overhead = int(statistics.median(cal))
    per = [c - overhead for c in steps]
    return {
        "mean": statistics.fmean(per),
        "min": min(per),
        "max": max(per),
        "overhead": overhead,
        "calls": len(per),
        "note": "guest instructions per step (QEMU TCG, exact count; not cycles)",
    }


def verify_cortex_m4(policy: SymbolicPolicy, code: GeneratedCode, ys, r, work: Path, reference) -> dict:
    missing = missing_tools()
    if missing:
        return {"skipped": f"missing {', '.join(missing)} (Debian: gcc-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm)"}
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    try:
        harness = write_harness(code, ys, r, work)
        elf = work / "harness.elf"
        _build([harness, *code.sources], code.out_dir, elf, ["-O2"])
        report["qemu"] = run_harness([*QEMU, "-kernel", str(elf)], policy, code, ys, r, reference, timeout=600.0)
    except VerificationFailed as err:
        report["qemu"] = {"ok": False, "reasons": [str(err)]}
    try:
        report.update(measure_size(code, work))
    except VerificationFailed as err:
        report["size"] = {"ok": False, "reasons": [str(err)]}
    try:
        report["instructions"] = count_instructions(code, ys, r, work)
    except VerificationFailed as err:
        report["instructions"] = {"ok": False, "reasons": [str(err)]}
    return report
