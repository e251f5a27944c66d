"""The chunk loop: a run stopped after a chunk and resumed from its checkpoint equals an
uninterrupted run bit for bit, for every algorithm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlax_lander import algos, parallel, runner
from rlax_lander.dqn.config import DQNConfig
from rlax_lander.env.registry import make
from rlax_lander.pqn.config import PQNConfig

CONFIGS = {
    "dqn": DQNConfig.cartpole(total_timesteps=3_000, learning_starts=500, buffer_size=1_000,
                              batch_size=32, hidden_sizes=(16, 16)),
    "pqn": PQNConfig.cartpole(total_timesteps=4_096, num_envs=8, rollout_steps=16,
                              num_minibatches=4, num_epochs=2, hidden_sizes=(16, 16)),
}


@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path, algo):
    config = CONFIGS[algo]
    stages = algos.get(algo).make_stages(config, *make(config.env_id), num_chunks=4)
    keys = parallel.seed_keys(0, 2)
    hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (2,)), config.hparams())
    meta = {"algo": algo, "config": config.to_dict()}
    whole = runner.run_chunks(stages, keys, hp, devices=1)
    calls = []

    def stop_after_two():
        calls.append(1)
        return len(calls) == 2

    path = tmp_path / "checkpoint.msgpack"
    first = runner.run_chunks(stages, keys, hp, devices=1, checkpoint_path=path,
                              checkpoint_meta=meta, should_stop=stop_after_two)
    assert first.stopped_at == 2 and path.is_file()
    rest = runner.run_chunks(stages, keys, hp, devices=1, checkpoint_path=path,
                             checkpoint_meta=meta, resume=True)
    assert rest.resumed_at == 2 and rest.stopped_at is None
    for x, y in zip(jax.tree.leaves(whole.params), jax.tree.leaves(rest.params)):
        np.testing.assert_array_equal(x, y)
    for name in whole.chunks:
        np.testing.assert_array_equal(whole.chunks[name], rest.chunks[name])
    for name in whole.episodes:
        np.testing.assert_array_equal(whole.episodes[name], rest.episodes[name])
    assert rest.session_env_steps == whole.env_steps - first.env_steps > 0
    with pytest.raises(ValueError, match="different run"):
        runner.run_chunks(stages, keys, hp, devices=1, checkpoint_path=path,
                          checkpoint_meta={**meta, "algo": "other"}, resume=True)


def test_on_chunk_snapshots_are_the_policy_after_each_chunk():
    """`ChunkReport.policy_params()` is the policy after that chunk: the last snapshot is the
    run's result, and the policy changes between chunks."""
    config = CONFIGS["dqn"]
    stages = algos.get("dqn").make_stages(config, *make(config.env_id), num_chunks=3)
    hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (2,)), config.hparams())
    snapshots = []
    result = runner.run_chunks(stages, parallel.seed_keys(0, 2), hp, devices=1,
                               on_chunk=lambda r: snapshots.append(r.policy_params()))
    assert len(snapshots) == 3
    for x, y in zip(jax.tree.leaves(snapshots[-1]), jax.tree.leaves(result.params)):
        assert x.shape[0] == 2
        np.testing.assert_array_equal(x, y)
    first, last = (jax.tree.leaves(s)[0] for s in (snapshots[1], snapshots[2]))
    assert np.abs(first - last).max() > 0
