"""DQN building blocks: pure functions over pytrees, and the DQN program as pure stages."""

from rlax_lander.dqn import exploration, replay
from rlax_lander.dqn.config import PRESETS, DQNConfig, Hparams
from rlax_lander.dqn.evaluate import make_evaluate
from rlax_lander.dqn.exploration import (
    epsilon_at,
    epsilon_greedy,
    exponential_epsilon,
    linear_epsilon,
    per_episode_epsilon,
)
from rlax_lander.dqn.losses import double_q_learning_loss, huber, q_learning_loss, td_targets
from rlax_lander.dqn.networks import QNetwork, q_values
from rlax_lander.dqn.returns import lambda_returns, n_step_returns
from rlax_lander.dqn.targets import periodic_update, polyak_update, update_target
from rlax_lander.dqn.train import (
    TrainResult,
    TrainState,
    build_network,
    make_stages,
    make_train,
)

__all__ = [
    "DQNConfig", "Hparams", "PRESETS", "QNetwork", "TrainResult", "TrainState",
    "build_network", "double_q_learning_loss", "epsilon_at", "epsilon_greedy",
    "exploration", "exponential_epsilon", "huber", "linear_epsilon", "make_evaluate",
    "lambda_returns", "make_stages", "make_train", "n_step_returns", "per_episode_epsilon",
    "periodic_update", "polyak_update",
    "q_learning_loss", "q_values", "replay", "td_targets", "update_target",
]
