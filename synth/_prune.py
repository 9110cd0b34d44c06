"""Latent states the control never reads, removed.

A learnt dynamic policy can carry a latent state that neither the readout nor any state the
readout depends on ever reads: GP-D found `da2/dt = 0.108` on a level-control task, a clock that
no expression uses. It changes no control value, but it never settles, so the closed loop has no
equilibrium to linearise at and every stability row of the certificate fails; and it costs an
integration per tick on the microcontroller. Removing it changes nothing the plant sees: the
controls are computed by the same expressions from the same kept states.
"""

from __future__ import annotations

import dataclasses

from ._policy import SymbolicPolicy


def read_latent(policy: SymbolicPolicy) -> list[int]:
    """Indices of the latent states the readout depends on, directly or through other latent
    states' dynamics, in order."""
    index = {z: i for i, z in enumerate(policy.z)}
    needed = {index[s] for e in policy.g for s in e.free_symbols if s in index}
    frontier = list(needed)
    while frontier:
        i = frontier.pop()
        for s in policy.f[i].free_symbols:
            j = index.get(s)
            if j is not None and j not in needed:
                needed.add(j)
                frontier.append(j)
    return sorted(needed)


def without_unread_latent(policy: SymbolicPolicy) -> SymbolicPolicy:
    """`policy` without the latent states the control never reads (itself when there are none);
    the removed names are kept in its provenance (`unread_latent_removed`)."""
    keep = read_latent(policy)
    if len(keep) == len(policy.latent):
        return policy
    removed = [n for i, n in enumerate(policy.latent) if i not in keep]
    return dataclasses.replace(
        policy,
        latent=tuple(policy.latent[i] for i in keep),
        f=tuple(policy.f[i] for i in keep),
        latent_init=tuple(policy.latent_init[i] for i in keep) if policy.latent_init else policy.latent_init,
        provenance={**policy.provenance, "unread_latent_removed": removed},
    )


__all__ = ["read_latent", "without_unread_latent"]
