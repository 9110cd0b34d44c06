"""Latent states the control never reads are removed without changing a single control value."""

import numpy as np
import sympy as sp

from plants import symbol
from synth import SymbolicPolicy
from synth._prune import read_latent, without_unread_latent


def _policy(f, g, latent=("a1", "a2", "a3")):
    names = {n: symbol(n) for n in ("y_h", "h_ref", "V", *latent)}
    return SymbolicPolicy(
        observations=("y_h",),
        targets=("h_ref",),
        latent=latent,
        controls=("V",),
        f=tuple(sp.sympify(e, locals=names) for e in f),
        g=(sp.sympify(g, locals=names),),
        dt=0.5,
        input_limits=((0.0, 12.0),),
        latent_init=(0.1, 0.2, 0.3)[: len(latent)],
    )


def test_a_drifting_state_nothing_reads_is_removed_and_the_controls_are_unchanged():
    # a2 is a clock nothing reads; a3 is read by a1, which the readout reads: a3 stays.
    policy = _policy(["-a1 + 10*y_h - 4 + a3", "0.108", "-a3 + y_h - h_ref"], "-10*a1 + 100*h_ref - 36.6")
    assert read_latent(policy) == [0, 2]
    pruned = without_unread_latent(policy)
    assert pruned.latent == ("a1", "a3") and pruned.latent_init == (0.1, 0.3)
    assert pruned.provenance["unread_latent_removed"] == ["a2"]
    rng = np.random.default_rng(0)
    ys, r = rng.normal(0.4, 0.1, size=(200, 1)), np.array([0.45])
    u_full, _ = policy.run_reference(ys, r)
    u_pruned, _ = pruned.run_reference(ys, r)
    assert np.array_equal(u_full, u_pruned)


def test_a_policy_that_reads_every_state_is_returned_as_it_is():
    policy = _policy(["a2 - a1", "y_h - h_ref", "a1 - a3"], "a1 + a3")
    assert without_unread_latent(policy) is policy
    moved = _policy(["a2 - a1", "y_h - h_ref", "a1"], "a1")  # a3 reads a1, but nothing reads a3
    assert without_unread_latent(moved).latent == ("a1", "a2")
