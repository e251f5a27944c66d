"""``make``: build the JAX LunarLander with validated parameters (checked eagerly, before any compile)."""

import warnings

from rlax_lander.env.lunar_lander import LunarLander
from rlax_lander.env.state import EnvParams

ENV_IDS = ("LunarLander-v3",)


def make(env_id: str = "LunarLander-v3", **overrides):
    """Returns ``(env, env_params)`` for ``env_id`` with ``overrides`` of ``EnvParams`` fields.

    Raises ValueError for an unknown id, an unknown field or a value outside its range; like the
    original, only warns for wind/turbulence powers outside their recommended ranges.
    """
    if env_id not in ENV_IDS:
        raise ValueError(f"env_id must be one of {ENV_IDS}, got {env_id!r}")
    fields = set(EnvParams.__dataclass_fields__)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown LunarLander parameter(s) {unknown}; allowed: {sorted(fields)}")
    params = EnvParams(**overrides)
    validate_params(params)
    return LunarLander(continuous=bool(params.continuous)), params


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
        warnings.warn(f"wind_power value is recommended to be between 0.0 and 20.0, got {wp}", stacklevel=2)
    if not 0.0 <= tp <= 2.0:
        warnings.warn(f"turbulence_power value is recommended to be between 0.0 and 2.0, got {tp}",
                      stacklevel=2)
