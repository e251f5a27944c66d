"""`make(env_id, **params)`: THE environment factory, for the JAX lander and every gymnax id.

Returns a gymnax-1.x environment (six-value `step` with `terminated`, `truncated` and
`info["final_observation"]`) and its params. Arguments are checked eagerly, before anything is
traced or compiled; the id list is `rlax_lander.env.ids.ENV_IDS`.
"""

import warnings
from numbers import Integral, Real

import numpy as np

from rlax_lander.env.ids import ENV_IDS, LANDER_IDS, check_env_id
from rlax_lander.env.lunar_lander import LunarLander
from rlax_lander.env.state import EnvParams

__all__ = ["ENV_IDS", "LANDER_IDS", "make", "validate_params"]


def make(env_id: str = "LunarLander-v3", **params):
    """`(env, env_params)` for `env_id` with `params` replacing fields of its default params.

    The lander takes `continuous` (its action kind, passed to `LunarLander`) and `EnvParams`
    fields (e.g. `enable_wind=True`); a gymnax
    id takes the fields of its own params dataclass (e.g. `max_steps_in_episode=200`).
    Raises ValueError for an unknown id, an unknown field or a value outside its range; like
    the original lander, only warns for wind/turbulence powers outside their recommended ranges.
    """
    check_env_id(env_id)
    if env_id in LANDER_IDS:
        return _make_lander(params)
    return _make_gymnax(env_id, params)


def _make_lander(params: dict):
    params = dict(params)
    continuous = params.pop("continuous", False)
    if not isinstance(continuous, (bool, np.bool_)):
        raise ValueError(f"continuous={continuous!r} has the wrong type; allowed: True or False")
    fields = set(EnvParams.__dataclass_fields__) | {"continuous"}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ValueError(f"unknown LunarLander parameter(s) {unknown}; allowed: {sorted(fields)}")
    env_params = EnvParams(**params)
    validate_params(env_params)
    return LunarLander(continuous=bool(continuous)), env_params


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
    """Checks every ``EnvParams`` field eagerly, before anything is traced or compiled.

    Types: ``enable_wind`` is a bool (Python or numpy); ``max_steps_in_episode``,
    ``velocity_iterations``, ``position_iterations`` and ``first_contact_iterations`` are integers
    (not bools, not floats, even integral ones such as 1000.0); ``gravity``, ``wind_power`` and
    ``turbulence_power`` are real numbers. Array values (e.g. params built for vmap) are checked by
    dtype and elementwise. Ranges: -12 < gravity < 0 (as the original asserts),
    max_steps_in_episode >= 1, velocity_iterations >= 1, position_iterations >= 0,
    first_contact_iterations >= 0; wind_power and turbulence_power must be finite (NaN or +-inf is
    an error), and finite values outside [0, 20] and [0, 2] only warn, as in the original.

    Raises:
      ValueError: naming the field, the value given and the allowed values.
    """
    def kind(value) -> str:
        """'bool', 'int', 'float' or 'other' for a Python/numpy scalar or an array's dtype."""
        if isinstance(value, (bool, np.bool_)):
            return "bool"
        if isinstance(value, Integral):
            return "int"
        if isinstance(value, Real):
            return "float"
        dtype = getattr(value, "dtype", None)
        if dtype is None:
            return "other"
        if np.issubdtype(dtype, np.bool_):
            return "bool"
        if np.issubdtype(dtype, np.integer):
            return "int"
        return "float" if np.issubdtype(dtype, np.floating) else "other"

    def wrong_type(name: str, allowed: str):
        value = getattr(params, name)
        return ValueError(f"EnvParams.{name}={value!r} has the wrong type; allowed: {allowed}")

    for name in ("enable_wind",):
        if kind(getattr(params, name)) != "bool":
            raise wrong_type(name, "True or False")
    for name, low in (("max_steps_in_episode", 1), ("velocity_iterations", 1), ("position_iterations", 0),
                      ("first_contact_iterations", 0)):
        value = getattr(params, name)
        if kind(value) != "int":
            raise wrong_type(name, f"an int >= {low}")
        if not np.all(np.asarray(value) >= low):
            raise ValueError(f"EnvParams.{name}={value!r} is out of range; allowed: an int >= {low}")
    for name in ("gravity", "wind_power", "turbulence_power"):
        if kind(getattr(params, name)) not in ("int", "float"):
            raise wrong_type(name, "a real number")

    g = np.asarray(params.gravity, np.float64)
    if not np.all((-12.0 < g) & (g < 0.0)):
        raise ValueError(f"EnvParams.gravity={params.gravity!r} is out of range; allowed: "
                         "-12 < gravity < 0 (as the original asserts)")
    for name, high, unit in (("wind_power", 20.0, "N"), ("turbulence_power", 2.0, "N m")):
        value = np.asarray(getattr(params, name), np.float64)
        if not np.all(np.isfinite(value)):
            raise ValueError(f"EnvParams.{name}={getattr(params, name)!r} is not finite; allowed: a "
                             f"finite number ({unit}; recommended 0.0 to {high})")
        if not np.all((0.0 <= value) & (value <= high)):
            shown = float(value) if value.ndim == 0 else value
            warnings.warn(f"{name} value is recommended to be between 0.0 and {high}, got {shown}",
                          stacklevel=3)
