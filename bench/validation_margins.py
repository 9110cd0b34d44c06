"""Benchmark: LQG design plus all margins (LQR, LQG loops) for sho/noisy. Target < 0.5 s.

Run: flock /tmp/symctl-bench.lock .venv/bin/python bench/validation_margins.py
"""

import os
import statistics
import subprocess
import time

import plants
import validation
from validation.margins import lqr_margins, policy_margins, summary


def once(task, variant, crosscheck=False):
    t0 = time.perf_counter()
    d = validation.design(task)
    pol = validation.policy_from_design(task, d, variant)
    m = policy_margins(task, pol, d.x_op, crosscheck=crosscheck)
    ml = lqr_margins(d, crosscheck=crosscheck)
    return time.perf_counter() - t0, summary(m), summary(ml)


def machine() -> str:
    model = [
        ln.split(":", 1)[1].strip()
        for ln in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if ln.startswith("Model name")
    ]
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return f"nproc {os.cpu_count()}, {model[0] if model else '?'}; uptime: {load}"


def main():
    print("machine:", machine())
    task = plants.get_task("sho/noisy")
    for variant in ("lqg-ss", "lqg"):
        once(task, variant)  # warm-up (imports, CasADi plugin loading)
        times = []
        for _ in range(7):
            dt, s, sl = once(task, variant)
            times.append(dt)
        gm, pm, dm, disk = s["gain_margin"], s["phase_margin"], s["delay_margin"], s["disk_margin"]
        print(f"{variant}: design + all margins: median {statistics.median(times):.3f} s, best {min(times):.3f} s (7 runs)")
        print(
            f"  LQG loop: GM {gm['absolute']:.4g} = {gm['dB']:.3f} dB at {gm['frequency_rad_s']:.4g} rad/s; "
            f"PM {pm['deg']:.3f} deg at {pm['frequency_rad_s']:.4g} rad/s; DM {dm['s']:.4f} s; "
            f"disk GM {disk['gain_dB']:.3f} dB, PM {disk['phase_deg']:.3f} deg; sm {s['stability_margin']['sm']:.4f}; "
            f"rho {s['spectral_radius']:.6f}"
        )
        d = validation.design(task)
        build = []
        for _ in range(7):
            t0 = time.perf_counter()
            validation.policy_from_design(task, d, variant)
            build.append(time.perf_counter() - t0)
        print(f"  of which the sympy construction (policy_from_design): median {statistics.median(build) * 1e3:.1f} ms")
        cross = sorted(once(task, variant, crosscheck=True)[0] for _ in range(3))
        print(
            f"  with the python-control cross-check (stability_margins, norm, disk_margins; as validate() runs it): "
            f"median {cross[1]:.3f} s (3 runs)"
        )
        gml = sl["gain_margin"]
        print(
            f"  LQR loop: GM {gml['absolute']:.4g}; PM {sl['phase_margin']['deg']:.3f} deg; disk GM {sl['disk_margin']['gain_dB']:.3f} dB"
        )
    print("machine after:", machine())


if __name__ == "__main__":
    main()
