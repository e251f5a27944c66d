"""PQN (parallel Q-learning without target network or replay) on the same stages as DQN."""

from rlax_lander.pqn.config import PRESETS, PQNConfig, PQNHparams
from rlax_lander.pqn.losses import q_regression_loss, rollout_targets
from rlax_lander.pqn.train import TrainState, build_network, make_optimizer, make_stages, make_train

__all__ = [
    "PQNConfig", "PQNHparams", "PRESETS", "TrainState", "build_network", "make_optimizer",
    "make_stages", "make_train", "q_regression_loss", "rollout_targets",
]
