"""Shared test set-up: a persistent XLA compilation cache.

The lander's step compiles in seconds, and many tests (in several pytest-xdist workers and
subprocesses) compile the same programs; the on-disk cache lets each program compile once per
machine. The cache lives in ``.jax_cache/`` (git-ignored) unless JAX_COMPILATION_CACHE_DIR is set.
"""

import os
import pathlib

_CACHE = os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).resolve().parent.parent / ".jax_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402  (after the environment variables above)

jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
