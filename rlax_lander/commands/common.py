"""What the commands share: the flag parser (argparse, with flags generated from the config
dataclasses), config resolution (env defaults, presets, overrides), start-up (devices),
progress printing and signal handling. Only commands import this module."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import re
import signal
import sys
import time
import typing

import numpy as np

from rlax_lander import algos, loggers, rundir, runner
from rlax_lander.commands import startup
from rlax_lander.env.ids import ENV_IDS

RUN_FLAGS = ("seeds", "seed", "out", "eval_episodes", "checkpoint_every", "overwrite",
             "tensorboard", "wandb_project", "cpu_devices", "devices", "progress",
             "max_memory_gb")


class Parser(argparse.ArgumentParser):
    """argparse that raises ValueError (one line, naming the flag) instead of exiting."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, exit_on_error=False, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        try:
            return super().parse_known_args(args, namespace)
        except argparse.ArgumentError as err:
            raise ValueError(f"{self.prog}: {err}") from None

    def error(self, message):
        raise ValueError(f"{self.prog}: {message}")


def flag(name: str) -> str:
    """`--flag-name` of a field or parameter name (`lambda_` -> `--lambda`)."""
    return "--" + name.rstrip("_").replace("_", "-")


def with_flags(err: Exception, names) -> ValueError:
    """The library's error about parameters `names`, re-worded with their flags."""
    message = str(err)
    for name in sorted(names, key=len, reverse=True):
        message = re.sub(rf"(?<![\w-]){name}\b", flag(name), message)
    return ValueError(message)


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a bool; allowed: true, false")
    return value in ("true", "1", "yes")


def _int(text: str) -> int:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    return int(value)


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _ints(text: str) -> tuple[int, ...]:
    return tuple(_int(t) for t in str(text).split(",") if t.strip())


def _optional_float(text: str):
    return None if str(text).strip().lower() == "none" else _float(text)


def _converter(kind):
    """(argparse type, choices, metavar) for a config field annotation."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return parse_bool, None, "{true,false}"
    if kind is int:
        return _int, None, "INT"
    if kind is float:
        return _float, None, "FLOAT"
    if origin is typing.Literal:
        return str, list(args), None
    if origin is tuple:
        return _ints, None, "N,N,..."
    if type(None) in args:
        return _optional_float, None, "FLOAT|none"
    return str, None, "STR"


def add_config_flags(parser: argparse.ArgumentParser, config_types) -> set[str]:
    """One flag per field of the config dataclasses (defaults suppressed, so only what the
    user typed comes back). Returns the field names."""
    names: set[str] = set()
    group = parser.add_argument_group("config fields (override the starting config)")
    for config_type in config_types:
        hints = typing.get_type_hints(config_type)
        for f in dataclasses.fields(config_type):
            if f.name in names or f.name == "env_id":
                continue
            names.add(f.name)
            conv, choices, metavar = _converter(hints[f.name])
            group.add_argument(flag(f.name), dest=f.name, type=conv, choices=choices,
                               metavar=metavar, default=argparse.SUPPRESS)
    return names


def add_run_flags(parser: argparse.ArgumentParser, default_out: str) -> None:
    """The flags every training command takes (train and ablate alike)."""
    parser.add_argument("--algo", default="dqn", choices=sorted(algos.ALGORITHMS),
                        help="training algorithm (default dqn)")
    parser.add_argument("--env", default=None, metavar="ENV_ID",
                        help="env id; the run starts from that env's default config (its "
                             "tuned preset where one exists). Default: the preset's env, "
                             "else LunarLander-v3")
    parser.add_argument("--preset", default=None, help="start from this named config "
                        "instead of the env's default (it must be tuned for --env)")
    parser.add_argument("--seeds", type=_int, default=8, help="seeds, trained together (8)")
    parser.add_argument("--seed", type=_int, default=0, help="base PRNG seed (0)")
    parser.add_argument("--out", default=default_out, help=f"run directory ({default_out})")
    parser.add_argument("--eval-episodes", type=_int, default=100,
                        help="greedy evaluation episodes per seed (100)")
    parser.add_argument("--checkpoint-every", type=_int, default=0, metavar="K",
                        help="save the training state every K chunks (a run has 20); 0: "
                             "only when interrupted")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR",
                        help="continue RUN_DIR from its checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run already in --out")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard events to OUT/tensorboard")
    parser.add_argument("--wandb-project", default=None, help="also log to this W&B project")
    parser.add_argument("--cpu-devices", type=_int, default=None, metavar="K",
                        help="split the CPU into K JAX devices and shard seeds over them "
                             "(default: one per core); 1 turns sharding off")
    parser.add_argument("--devices", default="all", help="'all' or the first K devices")
    parser.add_argument("--progress", type=parse_bool, default=True, metavar="{true,false}")
    parser.add_argument("--max-memory-gb", type=_float, default=None,
                        help="refuse runs estimated above this much memory (default: 80%% of "
                             "this machine's)")


def check_run_options(opts) -> None:
    """Range checks of the run flags, before anything is compiled."""
    checks = [("seeds", opts.seeds >= 1, ">= 1"), ("eval_episodes", opts.eval_episodes >= 1, ">= 1"),
              ("checkpoint_every", opts.checkpoint_every >= 0, ">= 0"),
              ("cpu_devices", opts.cpu_devices is None or opts.cpu_devices >= 1, ">= 1")]
    if opts.max_memory_gb is not None:
        checks.append(("max_memory_gb", opts.max_memory_gb > 0, "> 0"))
    for name, ok, allowed in checks:
        if not ok:
            raise ValueError(f"{flag(name)}={getattr(opts, name)} is out of range; "
                             f"allowed: {allowed}")
    if opts.devices != "all" and not (opts.devices.isdigit() and int(opts.devices) >= 1):
        raise ValueError(f"--devices={opts.devices!r} is invalid; allowed: 'all' or an int >= 1")
    if opts.env is not None and opts.env not in ENV_IDS:
        raise ValueError(f"--env={opts.env!r} is unknown; allowed: {', '.join(ENV_IDS)}")


def resolve_config(algo: algos.Algorithm, env: str | None, preset: str | None,
                   overrides: dict):
    """(config, source) for a fresh run: the preset (tuned for `env`, if both are given), else
    `env`'s default, else LunarLander-v3's; then `overrides` (config field values).
    ValueError names a preset for another env, or a field the algorithm does not have."""
    if preset is not None:
        config = algo.preset(preset, env)
        source = f"preset {preset}"
    else:
        config, name = algo.default_config(env or "LunarLander-v3")
        source = f"{config.env_id} default ({name})"
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        flags = ", ".join(flag(u) for u in unknown)
        raise ValueError(f"{flags} do(es) not apply to --algo {algo.name}")
    if overrides:
        config = config.replace(**overrides)
        source += " + " + ", ".join(f"{flag(k)} {v}" for k, v in overrides.items())
    return config, source


def format_config(config) -> str:
    """The resolved config as `name=value` pairs, wrapped at 100 columns."""
    items = [f"{k}={v}" for k, v in config.to_dict().items()]
    lines, line = [], " "
    for item in items:
        if len(line) + len(item) > 98:
            lines.append(line)
            line = " "
        line += " " + item
    lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- devices
def start_up(cpu_devices: int | None) -> None:
    """Apply `--cpu-devices` (see `startup.configure_cpu_devices`)."""
    startup.configure_cpu_devices(cpu_devices)


def memory_limit_bytes(max_memory_gb: float | None) -> int:
    if max_memory_gb is not None:
        return int(max_memory_gb * 2**30)
    try:
        return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2**62


def check_memory(estimate: int, max_memory_gb: float | None) -> None:
    """ValueError naming the estimate when it exceeds the limit."""
    limit = memory_limit_bytes(max_memory_gb)
    if estimate > limit:
        raise ValueError(
            f"this run needs about {estimate / 2**30:.1f} GiB (replay buffers, env states and "
            f"one chunk of metrics for every seed), above the limit of {limit / 2**30:.1f} GiB; "
            "lower --total-timesteps, --buffer-size, --num-envs or --seeds, or raise "
            "--max-memory-gb")


# ----------------------------------------------------------------------------- progress
def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Prints one line per chunk: env steps, the mean and range of the recent training return
    over cells, loss, epsilon, compile time and an ETA."""

    def __init__(self, total_env_steps: int, label: str = "seeds", enabled: bool = True):
        self.total = total_env_steps
        self.label = label
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.run_s = 0.0

    def __call__(self, report) -> None:
        self.run_s += report.chunk_s
        if not self.enabled:
            return
        m = report.metrics
        ret = m["episode_return"]
        finite = ret[np.isfinite(ret)]
        ret_txt = (f"return mean {finite.mean():7.1f} [{finite.min():.1f}, {finite.max():.1f}]"
                   if finite.size else "return  (no episode ended)")
        left = report.num_chunks - report.chunk
        eta = self.run_s / max(1, report.chunks_this_session) * left
        compile_txt = f" compile {report.compile_s:.0f}s," if report.compile_s else ""
        diverged = int(np.sum(m["nonfinite"]))
        print(f"  [{report.chunk:>3}/{report.num_chunks}] env steps {int(m['env_step'].max()):>10,}"
              f"/{self.total:,} | {ret_txt} over {len(ret)} {self.label} | loss "
              f"{np.nanmean(m['loss']):.3g} | eps {float(np.mean(m['epsilon'])):.2f} |"
              f"{compile_txt} {_duration(time.perf_counter() - self.t0)} elapsed, ETA "
              f"{_duration(eta)}" + (f" | {diverged} DIVERGED" if diverged else ""), flush=True)


class StopRequests:
    """SIGINT / SIGTERM while training: the first asks the run to stop after the current chunk
    (and save a checkpoint); a second SIGINT interrupts at once."""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum
        print(f"\n{signal.Signals(signum).name}: stopping after the current chunk "
              "(again to abort at once)", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def installed(self):
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signal or 0)


def run_cells_with_reporting(stages, keys, hparams, *, devices, out, opts, total_env_steps: int,
                             checkpoint_meta: dict, log_meta: dict, resume: bool,
                             label: str = "seeds", main_process: bool = True):
    """The chunk loop as the commands run it: progress lines, loggers, checkpoints in `out`
    (on process 0) and SIGINT / SIGTERM stopping after the current chunk.
    Returns (`runner.RunResult`, the `StopRequests` that saw any signal)."""
    sinks = loggers.make_loggers(out, opts.tensorboard, opts.wandb_project, run_name=out.name,
                                 config=log_meta) if main_process else []
    progress = Progress(total_env_steps, label, opts.progress and main_process)

    def on_chunk(report):
        progress(report)
        loggers.log_chunk(sinks, report)

    stop = StopRequests()
    try:
        with stop.installed():
            res = runner.run_chunks(
                stages, keys, hparams, devices=devices,
                checkpoint_path=out / rundir.CHECKPOINT_FILE if main_process else None,
                checkpoint_every=opts.checkpoint_every if main_process else 0,
                checkpoint_meta=checkpoint_meta, resume=resume, on_chunk=on_chunk,
                should_stop=stop if main_process else None)
    finally:
        for sink in sinks:
            sink.close()
    return res, stop
