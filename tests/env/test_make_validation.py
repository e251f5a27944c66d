"""`make()` refuses bad env parameters eagerly (issue 15, item 9): each case is a one-line
ValueError naming the field, the value and the allowed values; nothing is traced."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import rlax_lander
from rlax_lander.env.registry import validate_params
from rlax_lander.env.state import EnvParams

BAD = [
    # (overrides, regex the message must match)
    ({"wind_power": float("nan")}, r"EnvParams\.wind_power=nan is not finite; allowed: a finite number"),
    ({"wind_power": float("inf")}, r"EnvParams\.wind_power=inf is not finite"),
    ({"wind_power": -float("inf")}, r"EnvParams\.wind_power=-inf is not finite"),
    ({"turbulence_power": float("nan")}, r"EnvParams\.turbulence_power=nan is not finite.*0\.0 to 2\.0"),
    ({"turbulence_power": np.float32("inf")}, r"EnvParams\.turbulence_power=.*inf.* is not finite"),
    ({"enable_wind": True, "wind_power": float("nan")}, r"wind_power=nan is not finite"),
    ({"max_steps_in_episode": 2.5}, r"EnvParams\.max_steps_in_episode=2\.5 has the wrong type; "
                                    r"allowed: an int >= 1"),
    ({"max_steps_in_episode": 1000.0}, r"max_steps_in_episode=1000\.0 has the wrong type"),
    ({"max_steps_in_episode": True}, r"max_steps_in_episode=True has the wrong type"),
    ({"max_steps_in_episode": "1000"}, r"max_steps_in_episode='1000' has the wrong type"),
    ({"max_steps_in_episode": 0}, r"EnvParams\.max_steps_in_episode=0 is out of range; allowed: an int >= 1"),
    ({"enable_wind": "no"}, r"EnvParams\.enable_wind='no' has the wrong type; allowed: True or False"),
    ({"enable_wind": 1}, r"EnvParams\.enable_wind=1 has the wrong type; allowed: True or False"),
    ({"continuous": "yes"}, r"continuous='yes' has the wrong type; allowed: True or False"),
    ({"continuous": 0}, r"continuous=0 has the wrong type"),
    ({"velocity_iterations": 40.0}, r"EnvParams\.velocity_iterations=40\.0 has the wrong type; "
                                    r"allowed: an int >= 1"),
    ({"velocity_iterations": 0}, r"velocity_iterations=0 is out of range"),
    ({"position_iterations": -1}, r"EnvParams\.position_iterations=-1 is out of range; allowed: an int >= 0"),
    ({"first_contact_iterations": -1},
     r"EnvParams\.first_contact_iterations=-1 is out of range; allowed: an int >= 0"),
    ({"first_contact_iterations": 180.0}, r"first_contact_iterations=180\.0 has the wrong type"),
    ({"gravity": float("nan")}, r"EnvParams\.gravity=nan is out of range; allowed: -12 < gravity < 0"),
    ({"gravity": -float("inf")}, r"gravity=-inf is out of range"),
    ({"gravity": "-10"}, r"EnvParams\.gravity='-10' has the wrong type; allowed: a real number"),
    ({"wind_power": None}, r"EnvParams\.wind_power=None has the wrong type; allowed: a real number"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[repr(o) for o, _ in BAD])
def test_bad_params_are_one_line_errors_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message) as info:
        rlax_lander.make("LunarLander-v3", **overrides)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("field,value,allowed", [("wind_power", 25.0, "20.0"), ("wind_power", -1.0, "20.0"),
                                                 ("turbulence_power", 3.0, "2.0")])
def test_finite_out_of_range_wind_only_warns_as_the_original(field, value, allowed):
    with pytest.warns(UserWarning, match=rf"{field} value is recommended to be between 0\.0 and {allowed}"):
        _, params = rlax_lander.make("LunarLander-v3", **{field: value})
    assert getattr(params, field) == value


def test_good_values_of_every_accepted_type_pass_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for overrides in (
            {},
            {"continuous": True, "enable_wind": True, "wind_power": 0.0, "turbulence_power": 2.0},
            {"continuous": np.bool_(True), "enable_wind": np.bool_(False)},
            {"max_steps_in_episode": np.int64(500), "velocity_iterations": 10, "position_iterations": 0},
            {"gravity": -11.99, "wind_power": 20, "turbulence_power": np.float32(1.5)},
            {"max_steps_in_episode": jnp.int32(7), "gravity": jnp.float32(-3.0)},
        ):
            env, params = rlax_lander.make("LunarLander-v3", **overrides)
            assert env.continuous == bool(overrides.get("continuous", False))
            assert not hasattr(params, "continuous")  # the action kind lives on the env only


def test_batched_params_are_checked_elementwise():
    ok = EnvParams(gravity=np.array([-10.0, -5.0], np.float32), wind_power=np.array([1.0, 15.0]))
    validate_params(ok)
    with pytest.raises(ValueError, match=r"EnvParams\.wind_power=array\(\[ 1., nan\]\) is not finite"):
        validate_params(ok.replace(wind_power=np.array([1.0, np.nan])))
    with pytest.raises(ValueError, match=r"EnvParams\.gravity=.* is out of range"):
        validate_params(ok.replace(gravity=np.array([-10.0, 0.5])))
    with pytest.raises(ValueError, match=r"EnvParams\.max_steps_in_episode=.* has the wrong type"):
        validate_params(ok.replace(max_steps_in_episode=np.array([10.0, 20.0])))
