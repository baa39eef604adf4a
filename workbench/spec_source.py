"""A results Dataset's runs back as specs (:func:`specs_of`, from the specs its attrs hold) and
a spec as the Python source that rebuilds it (:func:`spec_code`, for exports); both re-exported
by :mod:`workbench.results` and :mod:`workbench`.
"""

from __future__ import annotations

import json

import xarray as xr

from .spec import RunSpec
from .streams import TaskStream

__all__ = ["spec_code", "specs_of"]


def specs_of(ds: xr.Dataset) -> list[RunSpec]:
    """The specs a results Dataset was computed from (read back from its attrs)."""
    return [RunSpec.from_dict(d) for d in json.loads(ds.attrs["specs"])]


def spec_code(spec: RunSpec) -> str:
    """Python source that rebuilds ``spec`` after ``import workbench as wb`` (for exports).

    Fields at their defaults are left out; schedules keep every argument, so the code gives
    back an equal spec (``eval(spec_code(s), {"wb": wb}) == s``).

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(16,)), steps=40,
    ...                   optimizer=wb.SGD(lr=wb.schedules.piecewise(boundaries=[20],
    ...                                                              values=[0.1, 0.05])))
    >>> spec_code(spec)  # doctest: +NORMALIZE_WHITESPACE
    "wb.RunSpec(data='digits', model=wb.MLP(hidden=(16,)),
     optimizer=wb.SGD(lr=wb.schedules.piecewise(boundaries=(20,), values=(0.1, 0.05))),
     steps=40)"
    >>> eval(spec_code(spec), {"wb": wb}) == spec
    True
    """
    return _code(spec)


def _code(x) -> str:
    import dataclasses

    from .data import DataSpec, data_spec
    from .schedules import Schedule

    if isinstance(x, Schedule):
        args = ", ".join(f"{k}={_code(v)}" for k, v in x.args)
        return f"wb.schedules.{x.kind}({args})"
    if isinstance(x, DataSpec):
        plain = data_spec(x.name)
        if x == plain:
            return repr(x.name)
        params = [f"{k}={_code(v)}" for k, v in x.params if (k, v) not in plain.params]
        seed = [f"seed={x.seed}"] if x.seed != plain.seed else []
        return f"wb.data_spec({', '.join([repr(x.name), *seed, *params])})"
    if isinstance(x, TaskStream):
        plain = TaskStream(x.tasks, x.starts, probe=x.probe)
        names = f", names={_code(list(x.names))}" if x != plain else ""
        probe = f", probe={x.probe}" if x.probe != TaskStream(x.tasks, x.starts).probe else ""
        return f"wb.sequence({_code(list(x.tasks))}, {_code(list(x.starts))}{names}{probe})"
    if dataclasses.is_dataclass(x):  # RunSpec, a model or an optimizer (all in wb)
        args = [
            f"{f.name}={_code(getattr(x, f.name))}"
            for f in dataclasses.fields(x)
            if f.default is dataclasses.MISSING or getattr(x, f.name) != f.default
        ]
        return f"wb.{type(x).__name__}({', '.join(args)})"
    if isinstance(x, tuple):
        return "(" + ", ".join(_code(v) for v in x) + (",)" if len(x) == 1 else ")")
    if isinstance(x, list):
        return "[" + ", ".join(_code(v) for v in x) + "]"
    return repr(x)
