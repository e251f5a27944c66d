"""Environment factory shared by training, evaluation and the CLI.

`make_env(env_id, **overrides) -> (env, env_params)` returns a gymnax-1.x environment (the
six-value `step` API with `terminated`, `truncated` and `info["final_observation"]`) and its
params. `LunarLander-v3` is the JAX-native lander of this package; every other id is a gymnax id.
Ids are checked here (and by `DQNConfig`) before anything is traced or compiled.
"""

from __future__ import annotations

LANDER_IDS: tuple[str, ...] = ("LunarLander-v3",)


def gymnax_env_ids() -> tuple[str, ...]:
    """The environment ids gymnax registers (imported lazily: gymnax import is not free)."""
    import gymnax

    return tuple(gymnax.registered_envs)


def allowed_env_ids() -> tuple[str, ...]:
    """Every id `make_env` accepts: the lander ids, then gymnax's."""
    return LANDER_IDS + tuple(i for i in gymnax_env_ids() if i not in LANDER_IDS)


def check_env_id(env_id: str) -> None:
    """Raise ValueError naming the allowed ids if `env_id` is unknown."""
    if env_id in LANDER_IDS:
        return
    allowed = allowed_env_ids()
    if env_id not in allowed:
        raise ValueError(f"env_id={env_id!r} is unknown; allowed ids: {', '.join(allowed)}")


def make_env(env_id: str, **overrides):
    """Build `(env, env_params)` for `env_id`.

    For the lander, `overrides` go to `rlax_lander.make` (e.g. `enable_wind=True`). For gymnax
    ids they replace fields of the default `env_params` (e.g. `max_steps_in_episode=200`).
    Raises ValueError for an unknown id or an unknown override field.
    """
    check_env_id(env_id)
    if env_id in LANDER_IDS:
        from rlax_lander.env.registry import make  # written alongside; imported lazily

        return make(env_id, **overrides)
    import gymnax

    env, env_params = gymnax.make(env_id)
    if overrides:
        fields = set(getattr(env_params, "__dataclass_fields__", {}))
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(
                f"unknown env_params field(s) {unknown} for {env_id}; allowed: {sorted(fields)}"
            )
        env_params = env_params.replace(**overrides)
    return env, env_params
