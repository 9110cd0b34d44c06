"""Test configuration: float64 and strict rank promotion for every test (STYLE.md, habit 5)."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def sho_noisy():
    import plants

    return plants.get_task("sho/noisy")
