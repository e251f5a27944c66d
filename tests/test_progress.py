"""What a run prints while it goes: the mean and range over seeds, loss, epsilon, compile
time and an ETA; and the log extra brings the program the README tells users to run."""

import importlib.util

import numpy as np

from rlax_lander.commands.common import Progress
from rlax_lander.runner import ChunkReport


def _report(chunk, returns, compile_s=0.0, chunk_s=2.0, nonfinite=(False, False, False)):
    m = {"env_step": np.array([1000 * chunk] * 3), "episodes": np.array([3, 4, 5]),
         "episode_return": np.asarray(returns, np.float32),
         "loss": np.array([1.0, 2.0, 3.0]), "q_mean": np.zeros(3), "q_abs_max": np.ones(3),
         "epsilon": np.array([0.5, 0.5, 0.5]), "nonfinite": np.array(nonfinite)}
    return ChunkReport(chunk=chunk, num_chunks=10, metrics=m, compile_s=compile_s,
                       chunk_s=chunk_s, chunks_this_session=chunk)


def test_progress_line_shows_mean_range_compile_and_eta(capsys):
    progress = Progress(total_env_steps=10_000)
    progress(_report(1, [22.0, 488.0, 500.0], compile_s=16.0))
    line = capsys.readouterr().out
    assert "[  1/10]" in line and "1,000/10,000" in line
    assert "return mean   336.7 [22.0, 500.0] over 3 seeds" in line  # not seed 0's alone
    assert "compile 16s" in line and "ETA 18s" in line and "eps 0.50" in line
    progress(_report(2, [np.nan, 10.0, 20.0], nonfinite=(False, True, False)))
    line = capsys.readouterr().out
    assert "[10.0, 20.0]" in line and "1 DIVERGED" in line and "compile" not in line
    assert "ETA 16s" in line  # 8 chunks left at 2 s each


def test_log_extra_installs_the_tensorboard_program():
    assert importlib.util.find_spec("tensorboardX") is not None
    assert importlib.util.find_spec("tensorboard") is not None
