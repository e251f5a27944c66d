"""Command-line entry: `python -m rlax_lander <command> [flags]`, a dispatcher over
`rlax_lander.commands`. A ValueError from a command (bad input) becomes one line
`error: ...` and exit code 2."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from rlax_lander.commands import startup

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("rlax_lander.commands.train", "train seeds of DQN or PQN, evaluate, write a run dir"),
    "ablate": ("rlax_lander.commands.ablate",
               "seeds x a hyperparameter grid in one program, with the train flags"),
    "evaluate": ("rlax_lander.commands.evaluate",
                 "greedy per-seed evaluation of a run dir (JAX env or Box2D)"),
    "render": ("rlax_lander.commands.render", "a GIF/MP4 of one greedy episode of a run dir"),
}

USAGE = """\
usage: %s {command} [flags]

commands:
%s

Each command has --help. Training commands take --env ENV_ID (the run starts from that env's
default config: a tuned preset for CartPole-v1 and LunarLander-v3, generic defaults otherwise),
--preset NAME (cartpole, lunar_lander, course_lab for DQN), --algo {dqn,pqn} and one flag per
config field (e.g. --total-timesteps 200000). Example:
  python -m rlax_lander train --env LunarLander-v3 --seeds 8 --out runs/lander
"""


def usage() -> str:
    rows = "\n".join(f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items())
    prog = "rlax-lander" if Path(sys.argv[0]).name == "rlax-lander" else "python -m rlax_lander"
    return USAGE % (prog, rows)


def _with_flag_names(message: str) -> str:
    """`DQNConfig.num_envs=...` -> also name the flag `--num-envs` that sets it."""
    match = re.search(r"\b[A-Z]\w*Config\.(\w+)=", message)
    if match and "(flag --" not in message:
        message += f" (flag --{match.group(1).rstrip('_').replace('_', '-')})"
    return message


def run(argv: list[str]) -> int:
    """Dispatch `argv` = [command, *flags]; errors propagate (ValueError for bad input)."""
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], list(argv[1:])
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; allowed: {', '.join(COMMANDS)}")
    if command in ("train", "ablate"):  # before the command's imports start a JAX backend
        startup.configure_cpu_devices(startup.requested_cpu_devices(rest))
    if command == "ablate":
        failed = startup.start_distributed(rest)
        if failed is not None:
            return failed
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    """Console entry: like `run`, but a ValueError prints `error: ...` and returns 2, and an
    OSError prints `error: ...` with the path and returns 1."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(argv)
    except ValueError as err:
        print(f"error: {_with_flag_names(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
