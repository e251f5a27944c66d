"""Command-line entry: a small dispatcher over subcommands.

`python -m rlax_lander <command> [flags]`. Each subcommand is `module:function` taking the
remaining argv (a list of str) and returning an exit code; add one by adding a line to
`COMMANDS` (e.g. "evaluate": "rlax_lander.commands.evaluate:main"). Modules are imported only
when their command runs. ValueError from a command becomes `error: ...` and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, str] = {
    "train": "rlax_lander.dqn.run:main",
    "ablate": "rlax_lander.ablate:main",
    "render": "rlax_lander.render_run:main",
    "evaluate": "rlax_lander.evaluation:main",
}


def _usage() -> str:
    return "usage: python -m rlax_lander {" + ",".join(sorted(COMMANDS)) + "} [flags] (--help)"


def run(argv: list[str]) -> int:
    """Dispatch `argv` = [command, *flags]; errors propagate (ValueError for bad input)."""
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], list(argv[1:])
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; allowed: {', '.join(sorted(COMMANDS))}")
    module_name, func = COMMANDS[command].split(":")
    return int(getattr(importlib.import_module(module_name), func)(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    """Console entry: like `run`, but a ValueError prints `error: ...` and returns 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(argv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
