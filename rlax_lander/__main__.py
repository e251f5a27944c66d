"""`python -m rlax_lander <command> ...`; see rlax_lander.cli."""

from rlax_lander.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
