"""Device start-up, before any JAX backend exists: the CLI calls `configure_cpu_devices` and
`start_distributed` before it imports a command (importing the library builds constants, which
starts a backend, and neither the CPU device count nor `jax.distributed` can change after)."""

from __future__ import annotations

import argparse
import os
import re
import sys

import jax
from jax._src import xla_bridge

from rlax_lander import parallel


def default_cpu_devices() -> int:
    """One XLA CPU device per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def requested_cpu_devices(argv: list[str]) -> int | None:
    """The value of `--cpu-devices` in `argv` (None if absent or not an int: the command's own
    parser then names the problem)."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--cpu-devices=") else (
            argv[i + 1] if arg == "--cpu-devices" and i + 1 < len(argv) else None)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def configure_cpu_devices(cpu_devices: int | None) -> None:
    """Split the CPU into `cpu_devices` JAX devices (default one per core) if no backend has
    started yet; otherwise an explicit request must match what exists (ValueError)."""
    if cpu_devices is not None and cpu_devices < 1:
        return  # the command's own checks name the bad value
    wanted = default_cpu_devices() if cpu_devices is None else int(cpu_devices)
    if xla_bridge.backends_are_initialized():
        have = len(jax.local_devices(backend="cpu"))
        if cpu_devices is not None and have != wanted:
            raise ValueError(f"--cpu-devices={wanted}: JAX already started with {have} CPU "
                             "devices in this process")
        return
    if wanted >= 1:
        jax.config.update("jax_num_cpu_devices", wanted)


_DIST_FLAGS = {"coordinator": "--coordinator", "num_processes": "--num-processes",
               "process_id": "--process-id", "timeout_s": "--init-timeout",
               "auto": "--distributed-auto"}


def _flag_words(message: str) -> str:
    for name, flag in sorted(_DIST_FLAGS.items(), key=lambda kv: -len(kv[0])):
        message = re.sub(rf"(?<![\w-]){name}\b", flag, message)
    return message


def start_distributed(argv: list[str]) -> int | None:
    """Join the multi-process run the flags in `argv` ask for (none: nothing to do).
    Bad values raise ValueError naming the flag; a failed join prints one `error:` line and
    returns exit code 1; otherwise returns None."""
    p = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    p.add_argument("--coordinator", default=None)
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    p.add_argument("--distributed-auto", action="store_true")
    p.add_argument("--init-timeout", type=float, default=120.0)
    try:
        opts, _ = p.parse_known_args(argv)
    except (argparse.ArgumentError, ValueError):
        return None  # the command's own parser names the bad value
    if opts.distributed_auto and opts.coordinator is not None:
        raise ValueError("--distributed-auto and --coordinator exclude each other")
    try:
        parallel.check_distributed_flags(opts.coordinator, opts.num_processes, opts.process_id)
        parallel.init_distributed(opts.coordinator, opts.num_processes, opts.process_id,
                                  auto=opts.distributed_auto, timeout_s=opts.init_timeout)
    except ValueError as err:
        raise ValueError(_flag_words(str(err))) from None
    except parallel.DistributedInitError as err:
        print(f"error: {_flag_words(str(err))} (--init-timeout {opts.init_timeout:g}s)",
              file=sys.stderr)
        return 1
    return None
