"""Device start-up, before any JAX backend exists: the CLI calls `configure_cpu_devices` before
it imports a command (importing the library builds constants, which starts a backend)."""

from __future__ import annotations

import os

import jax
from jax._src import xla_bridge


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
        have = len(jax.devices("cpu"))
        if cpu_devices is not None and have != wanted:
            raise ValueError(f"--cpu-devices={wanted}: JAX already started with {have} CPU "
                             "devices in this process")
        return
    if wanted >= 1:
        jax.config.update("jax_num_cpu_devices", wanted)
