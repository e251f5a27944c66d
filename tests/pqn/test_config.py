"""PQNConfig validation: each bad value names its field, before anything is traced or compiled
(no JAX backend is touched), plus the dict round trip and the hparams pytree."""

import json
import subprocess
import sys

import jax.numpy as jnp
import pytest

from rlax_lander.pqn import PRESETS, PQNConfig, PQNHparams

BAD = [
    ("total_timesteps", 0), ("total_timesteps", 1000.0), ("total_timesteps", True),
    ("num_envs", 0), ("num_envs", 2.0), ("rollout_steps", -1), ("num_epochs", 0),
    ("num_minibatches", 0), ("num_minibatches", False), ("epsilon_decay_steps", 0),
    ("hidden_sizes", ()), ("hidden_sizes", (64, 0)), ("hidden_sizes", (64.0,)),
    ("layer_norm", 1), ("lr_anneal", "yes"), ("loss", "mse"), ("optimizer", "sgd"),
    ("max_grad_norm", 0.0), ("max_grad_norm", float("nan")), ("learning_rate", 0.0),
    ("learning_rate", float("inf")), ("gamma", 1.5), ("gamma", -0.1), ("lambda_", 1.01),
    ("lambda_", -0.5), ("epsilon_start", 2.0), ("epsilon_end", -1.0), ("reward_scale", 0.0),
    ("env_id", 3),
]


@pytest.mark.parametrize("field,value", BAD)
def test_bad_field_is_named(field, value):
    with pytest.raises(ValueError, match=f"PQNConfig.{field}="):
        PQNConfig(**{field: value})


def test_unknown_env_id():
    with pytest.raises(ValueError, match="env_id='Nope-v0' is unknown"):
        PQNConfig(env_id="Nope-v0")


def test_minibatch_split_must_divide():
    with pytest.raises(ValueError, match=r"PQNConfig.num_minibatches=3 .*num_envs \* "
                                         r"rollout_steps = 4 \* 8 = 32"):
        PQNConfig(num_envs=4, rollout_steps=8, num_minibatches=3)
    cfg = PQNConfig(num_envs=4, rollout_steps=8, num_minibatches=8)
    assert cfg.minibatch_size == 4


def test_budget_without_an_update():
    with pytest.raises(ValueError, match=r"PQNConfig.total_timesteps=100 .*>= num_envs \* "
                                         r"rollout_steps = 128.*no update"):
        PQNConfig(total_timesteps=100, num_envs=16, rollout_steps=8, num_minibatches=4)


def test_derived_counts():
    cfg = PQNConfig(total_timesteps=10_000, num_envs=16, rollout_steps=8, num_epochs=3,
                    num_minibatches=4)
    assert cfg.iteration_env_steps == 128
    assert cfg.num_iterations == 78
    assert cfg.minibatch_size == 32
    assert cfg.updates_per_iteration == 12
    assert cfg.num_updates == 78 * 12


def test_dict_round_trip_and_unknown_keys():
    for make in PRESETS.values():
        cfg = make()
        d = json.loads(json.dumps(cfg.to_dict()))
        assert PQNConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="unknown PQNConfig field.*buffer_size"):
        PQNConfig.from_dict({"buffer_size": 10})


def test_replace_validates():
    cfg = PQNConfig.cartpole()
    assert cfg.replace(lambda_=0.0).lambda_ == 0.0
    with pytest.raises(ValueError, match="PQNConfig.lambda_=2"):
        cfg.replace(lambda_=2)
    with pytest.raises(dataclasses_error()):
        cfg.num_envs = 3


def dataclasses_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_hparams_are_float32_scalars():
    hp = PQNConfig.lunar_lander().hparams()
    assert isinstance(hp, PQNHparams)
    for name in ("learning_rate", "gamma", "lambda_", "epsilon_start", "epsilon_end",
                 "epsilon_decay_steps", "reward_scale"):
        x = getattr(hp, name)
        assert x.shape == () and x.dtype == jnp.float32, name
    assert float(hp.lambda_) == pytest.approx(PQNConfig.lunar_lander().lambda_)


def test_validation_touches_no_jax_backend():
    # The lander's configs only: checking a gymnax id imports gymnax, whose module constants
    # are jnp arrays (that is envs.check_env_id, shared with DQNConfig).
    code = (
        "import jax._src.xla_bridge as xb\n"
        "from rlax_lander.pqn import PQNConfig\n"
        "PQNConfig.lunar_lander()\n"
        "try:\n"
        "    PQNConfig.lunar_lander(num_envs=4, rollout_steps=8, num_minibatches=3)\n"
        "except ValueError:\n"
        "    pass\n"
        "print(len(xb._backends))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "0"
