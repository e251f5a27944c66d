"""Checks shared by the frozen config dataclasses: types first, then ranges.

Every error names the owner and field (`DQNConfig.num_envs=1.5`) and the allowed values, and
is raised at construction, before anything is traced or compiled.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from numbers import Integral, Real


def check(ok: bool, owner: str, field: str, value, allowed: str) -> None:
    """ValueError `owner.field=value is out of range; allowed: ...` unless `ok`."""
    if not ok:
        raise ValueError(f"{owner}.{field}={value!r} is out of range; allowed: {allowed}")


def _kind_ok(value, kind) -> tuple[bool, str]:
    """Whether `value` fits the annotation `kind`, and how to name what is allowed."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return isinstance(value, bool), "True or False"
    if kind is int:
        return isinstance(value, Integral) and not isinstance(value, bool), "an int"
    if kind is float:
        ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
        return ok, "a finite number"
    if kind is str:
        return isinstance(value, str), "a string"
    if origin is typing.Literal:
        return value in args, " | ".join(repr(a) for a in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        inner = [_kind_ok(v, args[0])[0] for v in value] if isinstance(value, (tuple, list)) \
            else [False]
        return all(inner), f"a tuple of {_kind_ok(None, args[0])[1]}"
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        results = [_kind_ok(value, a) if a is not type(None) else (value is None, "None")
                   for a in args]
        return any(r[0] for r in results), " or ".join(r[1] for r in results)
    return True, ""


def check_types(obj) -> None:
    """Type-check every field of dataclass `obj` against its annotation (ints are ints, not
    bools or floats; bools are bools; floats are finite; Literals are one of their values)."""
    owner = type(obj).__name__
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        ok, allowed = _kind_ok(value, hints[f.name])
        if not ok:
            raise ValueError(f"{owner}.{f.name}={value!r} has the wrong type; allowed: {allowed}")


class ConfigRecord:
    """`replace`, `to_dict` and `from_dict` for the frozen config dataclasses (JSON-ready:
    tuples become lists and back; unknown keys raise ValueError naming the allowed ones)."""

    def replace(self, **changes):
        """A validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of `to_dict`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {unknown}; allowed: "
                             f"{sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
