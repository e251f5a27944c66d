"""Every environment id `rlax_lander.make` accepts, as static data (importing this touches no
JAX backend, so configs can check ids before anything is compiled).

The gymnax ids are those gymnax 1.0 registers (a test checks them against
`gymnax.registered_envs`); `CONTINUOUS_IDS` have a Box action space, which value-based agents
(DQN, PQN) cannot act in.
"""

LANDER_IDS: tuple[str, ...] = ("LunarLander-v3",)

GYMNAX_IDS: tuple[str, ...] = (
    "CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
    "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar", "Catch-bsuite", "DeepSea-bsuite", "MemoryChain-bsuite",
    "UmbrellaChain-bsuite", "DiscountingChain-bsuite", "MNISTBandit-bsuite",
    "SimpleBandit-bsuite", "FourRooms-misc", "MetaMaze-misc", "PointRobot-misc",
    "BernoulliBandit-misc", "GaussianBandit-misc", "Reacher-misc", "Swimmer-misc", "Pong-misc",
    "FrozenLake-misc",
)

ENV_IDS: tuple[str, ...] = LANDER_IDS + GYMNAX_IDS
"""The one id list: the JAX lander first, then gymnax's."""

CONTINUOUS_IDS: frozenset[str] = frozenset({
    "Pendulum-v1", "MountainCarContinuous-v0", "PointRobot-misc", "Reacher-misc", "Swimmer-misc",
})


def check_env_id(env_id: str, *, discrete: bool = False, owner: str = "env_id") -> None:
    """Raise ValueError naming `owner` and the allowed ids if `env_id` is unknown, or (with
    `discrete`) if its action space is continuous."""
    if env_id not in ENV_IDS:
        raise ValueError(f"{owner}={env_id!r} is unknown; allowed ids: {', '.join(ENV_IDS)}")
    if discrete and env_id in CONTINUOUS_IDS:
        allowed = [i for i in ENV_IDS if i not in CONTINUOUS_IDS]
        raise ValueError(
            f"{owner}={env_id!r} has continuous actions, which value-based agents (DQN, PQN) "
            f"cannot take; allowed: the discrete-action ids {', '.join(allowed)}")


SUCCESS_RETURNS: dict[str, float] = {
    "LunarLander-v3": 200.0, "CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0,
}
"""An episode return that counts as solving the env (Gymnasium's `reward_threshold`)."""


def success_return(env_id: str) -> float | None:
    """The env's success mark, None where it has none."""
    return SUCCESS_RETURNS.get(env_id)
