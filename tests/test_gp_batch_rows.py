"""GP's small evaluation program: a few individuals (validation's candidates, the tuned ones
confirmed) are costed by a program of few rows instead of the population's, once the population
program's measured run time outweighs a compile. The costs must not depend on which program ran."""

import numpy as np
import pytest

import plants
from synth.gp import gp_config

SMALL = dict(population=64, islands=2, train_trajectories=4, validation_trajectories=8, linear_seeds=0)


@pytest.mark.parametrize("task", ["sho/partial", "cstr/varying"])
def test_a_small_program_costs_each_individual_as_the_population_program_does(task):
    from synth.gp._context import context

    ctx = context(gp_config(plants.get_task(task), "quick", method="gp-d", seed_policy="none", **SMALL))
    code, const = ctx.random_population(np.random.default_rng(0), 5)
    full = ctx.evaluate_rows(code, const, ctx.train, ctx.padded_rows)
    small = ctx.evaluate_rows(code, const, ctx.train, 8)
    assert full.shape == small.shape == (5, 4)
    assert np.isfinite(full).any()  # (random trees: some may diverge; the comparison must hold finite costs too)
    np.testing.assert_array_equal(small, full)  # bit for bit, inf and nan alike


def test_the_small_program_is_used_once_its_compile_pays_for_itself():
    from synth.gp._context import context

    ctx = context(gp_config(plants.get_task("sho/partial"), "quick", method="gp-d", seed_policy="none", **SMALL))
    ctx._calls.clear()
    assert ctx.batch_rows(5) == 64  # nothing measured yet: the population program
    ctx._timed(64, 10.0)  # first call: compile and run
    assert ctx.batch_rows(5) == 64  # one call tells no run time from compile time
    ctx._timed(64, 9.5)  # compile 0.5 s, run 9.5 s: 7/8 of a run saved is more than a compile
    assert ctx.batch_rows(5) == 8 and ctx.batch_rows(1) == 1 and ctx.batch_rows(16) == 16
    assert ctx.batch_rows(17) == 64  # 32 rows would save only half the work: not worth a program
    ctx._calls[64] = [10.0, 1.0]  # compile 9 s, run 1 s: compiling dominates one call ...
    assert ctx.batch_rows(5) == 64
    assert ctx.batch_rows(5, calls=8) == 64 and ctx.batch_rows(5, calls=11) == 8  # ... 11 calls save 9.6 s
    ctx._timed(8, 3.0)  # a small program compiled earlier is used again for free
    assert ctx.batch_rows(5) == 8 and ctx.batch_rows(3) == 64
    ctx._calls.clear()
