"""The classic-control tasks step exactly like Gymnasium's environments (200 random steps each)."""

import math

import numpy as np
import pytest

import plants

gym_cc = pytest.importorskip("gymnasium.envs.classic_control", reason="gymnasium is a dev dependency")


def _step(task, fns, x, u):
    p = task.nominal_parameters
    x_next = np.asarray(fns.dynamics(0.0, x, u, p), float)
    cost = float(fns.stage_cost(x, u, task.nominal_target, p))
    done = bool(fns.terminate(x_next, task.nominal_target, p)) if fns.terminate is not None else False
    reward = -cost - (task.cost.terminal if done else 0.0)
    return x_next, reward, done


def test_pendulum_matches_gymnasium_pendulum_v1():
    task = plants.get_task("pendulum/swingup")
    fns = plants.to_numpy(task)
    env = gym_cc.PendulumEnv()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = np.array([rng.uniform(-math.pi, math.pi), rng.uniform(-8.0, 8.0)])
        u = np.array([rng.uniform(-2.0, 2.0)])
        env.state = x.copy()
        obs, reward, terminated, truncated, _ = env.step(u.astype(np.float32))
        x_next, our_reward, _ = _step(task, fns, x, u.astype(np.float32).astype(float))
        # Gymnasium multiplies the float32 torque in float32 (numpy 2 keeps Python floats weak), so
        # the two agree to float32 precision of that term, not to float64.
        np.testing.assert_allclose(env.state, x_next, rtol=1e-7, atol=1e-7)
        assert our_reward == pytest.approx(float(reward), rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(obs, fns.observe(x_next, task.nominal_parameters), atol=1e-6)
        assert not terminated


def test_mountaincar_matches_gymnasium_continuous_v0():
    task = plants.get_task("mountaincar/continuous")
    fns = plants.to_numpy(task)
    env = gym_cc.Continuous_MountainCarEnv()
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    reached = 0
    for _ in range(200):
        # float32 states, as Gymnasium stores them; include the left wall and the goal region.
        x = np.array([rng.uniform(-1.2, 0.6), rng.uniform(-0.07, 0.07)], dtype=np.float32)
        if rng.random() < 0.1:
            x[0] = np.float32(-1.2)
        u = np.array([rng.uniform(-1.0, 1.0)], dtype=np.float32)
        env.state = x.copy()
        obs, reward, terminated, _, _ = env.step(u)
        x_next, our_reward, done = _step(task, fns, x.astype(float), u.astype(float))
        # Gymnasium rounds the state to float32 after every step.
        np.testing.assert_allclose(env.state, x_next.astype(np.float32), rtol=0, atol=1e-7)
        assert done == terminated
        assert our_reward == pytest.approx(float(reward), rel=1e-6, abs=1e-6)
        reached += done
    assert reached > 0, "no step reached the goal: the terminal reward was not exercised"


def test_cartpole_matches_gymnasium_cartpole_with_force_30():
    task = plants.get_task("cartpole/balance")
    fns = plants.to_numpy(task)
    env = gym_cc.CartPoleEnv()
    env.force_mag = 30.0
    env.reset(seed=0)
    rng = np.random.default_rng(2)
    failures = 0
    for _ in range(200):
        x = rng.uniform([-2.5, -2.0, -0.25, -2.0], [2.5, 2.0, 0.25, 2.0])
        a = 1.0 if rng.random() < 0.5 else -1.0
        env.state = tuple(x)
        env.steps_beyond_terminated = None
        obs, reward, terminated, _, _ = env.step(1 if a > 0 else 0)
        x_next, our_reward, done = _step(task, fns, x, np.array([a]))
        np.testing.assert_allclose(np.asarray(env.state, float), x_next, rtol=1e-12, atol=1e-12)
        assert done == terminated
        # Gymnasium pays +1 on every step, the failing one included; the task's stage cost is -1.
        assert our_reward == pytest.approx(float(reward))
        failures += done
    assert failures > 0, "no step failed: the termination rule was not exercised"
