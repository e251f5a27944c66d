"""`make(env_id, **params)`: THE environment factory, for the JAX lander and every gymnax id.

Returns a gymnax-1.x environment (six-value `step` with `terminated`, `truncated` and
`info["final_observation"]`) and its params. Arguments are checked eagerly, before anything is
traced or compiled; the id list is `rlax_lander.env.ids.ENV_IDS`.
"""

import warnings

from rlax_lander.env.ids import ENV_IDS, LANDER_IDS, check_env_id
from rlax_lander.env.lunar_lander import LunarLander
from rlax_lander.env.state import EnvParams

__all__ = ["ENV_IDS", "LANDER_IDS", "make", "validate_params"]


def make(env_id: str = "LunarLander-v3", **params):
    """`(env, env_params)` for `env_id` with `params` replacing fields of its default params.

    The lander takes `EnvParams` fields (e.g. `continuous=True`, `enable_wind=True`); a gymnax
    id takes the fields of its own params dataclass (e.g. `max_steps_in_episode=200`).
    Raises ValueError for an unknown id, an unknown field or a value outside its range; like
    the original lander, only warns for wind/turbulence powers outside their recommended ranges.
    """
    check_env_id(env_id)
    if env_id in LANDER_IDS:
        return _make_lander(params)
    return _make_gymnax(env_id, params)


def _make_lander(params: dict):
    fields = set(EnvParams.__dataclass_fields__)
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ValueError(f"unknown LunarLander parameter(s) {unknown}; allowed: {sorted(fields)}")
    env_params = EnvParams(**params)
    validate_params(env_params)
    return LunarLander(continuous=bool(env_params.continuous)), env_params


def _make_gymnax(env_id: str, params: dict):
    import gymnax  # optional at import time: gymnax pulls in all of its environments

    env, env_params = gymnax.make(env_id)
    if params:
        fields = set(getattr(env_params, "__dataclass_fields__", {}))
        unknown = sorted(set(params) - fields)
        if unknown:
            raise ValueError(f"unknown env_params field(s) {unknown} for {env_id}; "
                             f"allowed: {sorted(fields)}")
        env_params = env_params.replace(**params)
    return env, env_params


def validate_params(params: EnvParams) -> None:
    """Raises ValueError naming the field and its allowed range."""
    g = float(params.gravity)
    if not -12.0 < g < 0.0:
        raise ValueError(f"gravity must satisfy -12 < gravity < 0 (as the original asserts), got {g}")
    if int(params.max_steps_in_episode) < 1:
        raise ValueError(f"max_steps_in_episode must be >= 1, got {params.max_steps_in_episode}")
    if int(params.velocity_iterations) < 1:
        raise ValueError(f"velocity_iterations must be >= 1, got {params.velocity_iterations}")
    if int(params.position_iterations) < 0:
        raise ValueError(f"position_iterations must be >= 0, got {params.position_iterations}")
    wp, tp = float(params.wind_power), float(params.turbulence_power)
    if not 0.0 <= wp <= 20.0:
        warnings.warn(f"wind_power value is recommended to be between 0.0 and 20.0, got {wp}")
    if not 0.0 <= tp <= 2.0:
        warnings.warn(f"turbulence_power value is recommended to be between 0.0 and 2.0, got {tp}")
