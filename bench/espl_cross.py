"""Score pendulum policies on the held-out test streams of seeds 0, 1 and 2 (1,000 episodes each).

    .venv/bin/python bench/espl_cross.py [--stream NAME] RUN_FOLDER/policy.json ...

Shows how much of a seed's figure is the difficulty of its test stream rather than the policy.
With --stream probe, the policies are scored on the "probe" streams of seeds 0, 1, 2 instead
(training-side trajectories used to compare settings; never the held-out test streams).
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)


def main() -> int:
    import numpy as np

    import plants
    from synth import Simulator, SymbolicPolicy
    from synth._runfolder import stream_key

    args = sys.argv[1:]
    stream = "test"
    if args[:1] == ["--stream"]:
        stream, args = args[1], args[2:]
    task = plants.get_task("pendulum/swingup")
    sim = Simulator(task)
    for path in args:
        policy = SymbolicPolicy.from_json(Path(path).read_text())
        costs = [float(np.mean(np.asarray(sim.simulate(policy, sim.scenarios(stream_key(s, stream), 1000)).cost)))
                 for s in (0, 1, 2)]
        print(path, " ".join(f"{c:.1f}" for c in costs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
