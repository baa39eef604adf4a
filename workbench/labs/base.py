"""What every lab has: knobs, presets, a sweep, live knobs, actions, figures, URLs and exports.

A lab is a :class:`Lab`: a ``param.Parameterized`` whose parameters are its knobs (bounds,
defaults and docs declared once), plus class-level declarations the shared page
(:mod:`workbench.ui.lab_page`) and the notebooks read:

- ``presets``: named knob sets, each with a paragraph saying what to watch;
- ``live_knobs``: :class:`LiveKnob` s a user turns *while* a sweep trains, each applied through
  :meth:`workbench.Session.set_knob`;
- ``actions``: :class:`Action` s on a running session (the schedules lab's "start the decay
  now" fork);
- ``colour_by``: which run coordinates may share a colour;
- :meth:`Lab.specs` (the sweep), :meth:`Lab.name_of` (a run's name in plots),
  :meth:`Lab.applies` (which knobs matter under the current settings) and :meth:`Lab.curves`
  (the live figure).

URL round trip (:meth:`Lab.to_query` / :meth:`Lab.from_query`), "export as code"
(:meth:`Lab.export`) and knob checks (:meth:`Lab.check_value`) are written once here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import param
import xarray as xr

from ..spec import RunSpec

__all__ = ["Action", "Lab", "LiveKnob", "check_knob", "describe_bounds"]


@dataclasses.dataclass(frozen=True)
class LiveKnob:
    """A knob turned while a sweep trains, applied to every run through ``Session.set_knob``.

    Parameters
    ----------
    name
        The session knob it sets (``"lr_scale"`` or an optimizer hyperparameter).
    label, doc
        What the page shows (``doc`` as the tooltip).
    bounds, softbounds
        Allowed values (a value outside ``bounds`` is refused with a message); ``softbounds``
        is a slider's range.
    default
        The value before anyone touches it; ``None``: "as the runs specify" (nothing is sent
        until a value is set).
    step
        A slider's step.
    slider
        A slider (``True``) or a typed number.
    """

    name: str
    label: str
    doc: str
    bounds: tuple[float, float]
    default: float | None = None
    softbounds: tuple[float, float] | None = None
    step: float = 0.01
    slider: bool = False

    def parameter(self) -> param.Number:
        """This knob as a ``param.Number`` (one per page, on the page's own object)."""
        return param.Number(
            default=self.default,
            allow_None=self.default is None,
            bounds=self.bounds,
            softbounds=self.softbounds,
            step=self.step,
            label=self.label,
            doc=self.doc,
        )


@dataclasses.dataclass(frozen=True)
class Action:
    """A button on a running sweep: ``run(session) -> new run ids`` (forks) or ``[]``.

    ``branch`` names the runs an action forks (``"decay"``: a branch made at step 120 is named
    ``decay@120`` in plots); ``doc`` is shown beside the button.
    """

    label: str
    doc: str
    run: Callable[[Any], list[int]]
    branch: str = "branch"


def describe_bounds(p: param.Parameter) -> str:
    """The allowed values of a knob in words.

    Examples
    --------
    >>> describe_bounds(param.Number(default=1.0, bounds=(0.0, 10.0)))
    'a number from 0 to 10'
    >>> describe_bounds(param.Integer(default=3, bounds=(1, None)))
    'a whole number >= 1'
    >>> describe_bounds(param.Selector(default="a", objects=["a", "b"]))
    "one of 'a', 'b'"
    """
    if isinstance(p, param.ListSelector):
        return "a list of " + ", ".join(repr(o) for o in p.objects)
    if isinstance(p, param.Selector):
        return "one of " + ", ".join(repr(o) for o in p.objects)
    if isinstance(p, param.Number):
        kind = "a whole number" if isinstance(p, param.Integer) else "a number"
        lo, hi = p.bounds or (None, None)
        if lo is not None and hi is not None:
            return f"{kind} from {lo:g} to {hi:g}"
        if lo is not None:
            return f"{kind} >= {lo:g}"
        if hi is not None:
            return f"{kind} <= {hi:g}"
        return kind
    return type(p).__name__.lower()


def check_knob(owner: param.Parameterized, name: str, value: Any) -> str | None:
    """Why ``owner``'s parameter ``name`` refuses ``value`` (the knob's label, the value and
    what is allowed), or ``None`` if it takes it. Nothing is changed.

    Examples
    --------
    >>> class K(param.Parameterized):
    ...     lr = param.Number(default=0.1, bounds=(1e-5, 1.0), label="Peak LR")
    >>> check_knob(K(), "lr", 5)
    'Peak LR must be a number from 1e-05 to 1, got 5'
    >>> check_knob(K(), "lr", 0.5) is None
    True
    """
    p = owner.param[name]
    label = p.label or name
    if isinstance(p, param.Number):
        if value is None:
            return None if p.allow_None else f"{label} needs a value ({describe_bounds(p)})"
        whole = isinstance(p, param.Integer)
        ok = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok) or not math.isfinite(value):
            return f"{label} must be {describe_bounds(p)}, got {value!r}"
        lo, hi = p.bounds or (None, None)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return f"{label} must be {describe_bounds(p)}, got {value!r}"
        return None
    if isinstance(p, param.ListSelector):
        bad = [v for v in value or [] if v not in p.objects] if isinstance(value, list) else None
        if bad is None or bad:
            return f"{label}: {value!r} is not allowed; it must be {describe_bounds(p)}"
        return None
    if isinstance(p, param.Selector) and value not in p.objects:
        return f"{label}: {value!r} is not allowed; it must be {describe_bounds(p)}"
    try:
        p._validate(value)
    except (ValueError, TypeError) as e:
        return f"{label}: {value!r} is refused ({' '.join(str(e).split())})"
    return None


class Lab(param.Parameterized):
    """The shared base of the labs (see the module docstring); subclasses declare knobs as
    parameters and override :meth:`specs` (and whichever of the hooks they need).

    Examples
    --------
    >>> class Tiny(Lab):
    ...     steps = param.Integer(default=50, bounds=(10, 1000), doc="Training steps.")
    ...     presets = {"long": ({"steps": 500}, "A longer run.")}
    >>> lab = Tiny()
    >>> lab.to_query()
    {'steps': '50'}
    >>> Tiny.from_query({"steps": "5"})
    Traceback (most recent call last):
    ...
    ValueError: knob steps='5': Steps must be a whole number from 10 to 1000, got 5
    >>> _ = lab.apply_preset("long"); lab.steps
    500
    >>> lab.reset(); lab.steps
    50
    """

    #: Title of the lab's page.
    title: ClassVar[str] = "Lab"
    #: The lab's page of the science guide, relative to the repository root.
    science: ClassVar[str] = "docs/science/README.md"
    #: Named knob sets: ``{name: (knobs, what to watch)}``; a preset starts from the defaults.
    presets: ClassVar[dict[str, tuple[dict, str]]] = {}
    #: Knobs turned during training.
    live_knobs: ClassVar[tuple[LiveKnob, ...]] = ()
    #: Buttons on a running sweep.
    actions: ClassVar[tuple[Action, ...]] = ()
    #: "Colour by" choices: a label and the run coordinates it groups by (``name`` is
    #: :meth:`name_of`, ``branch`` the fork a run belongs to, ``seed``, ``label`` every run).
    colour_by: ClassVar[dict[str, tuple[str, ...]]] = {
        "name + branch": ("name", "branch"),
        "name": ("name",),
        "seed": ("seed",),
        "run": ("label",),
    }
    #: What :meth:`name_of` names, in legends and tables ("schedule").
    name_label: ClassVar[str] = "name"
    #: Names the page's colour map assigns first, so colours do not depend on what is ticked.
    colour_names: ClassVar[tuple[str, ...]] = ()
    #: Fraction of the budget after which the loss axes are zoomed (``None``: no zoom knob).
    zoom: ClassVar[float | None] = None
    #: Knobs whose typed-in values go through a slider rather than a number box.
    sliders: ClassVar[tuple[str, ...]] = ()

    # -- the sweep ---------------------------------------------------------------------------

    def specs(self) -> list[RunSpec]:
        """The runs the current knobs make (subclasses override)."""
        raise NotImplementedError(f"{type(self).__name__}.specs")

    def name_of(self, spec: RunSpec) -> str:
        """A run's name in plots and tables (default: what differs, apart from the seed)."""
        return "run"

    def names(self, specs: Sequence[RunSpec]) -> list[str]:
        """:meth:`name_of` of every spec."""
        return [self.name_of(s) for s in specs]

    def applies(self) -> dict[str, bool]:
        """Which knobs matter under the current settings (the page hides the others)."""
        return {k: True for k in self.knob_names()}

    def live_applies(self) -> dict[str, bool]:
        """Which live knobs the current settings' runs have (the page hides the others)."""
        return {k.name: True for k in self.live_knobs}

    def curves(self, ds: xr.Dataset, **kwargs) -> Any:
        """The live figure of a sweep's Dataset (default: :func:`workbench.plots.training_curves`;
        ``kwargs`` go to it)."""
        from ..plots import training_curves

        return training_curves(ds, **kwargs)

    # -- knobs -------------------------------------------------------------------------------

    @classmethod
    def knob_names(cls) -> list[str]:
        """Every knob, in declaration order."""
        return [k for k in cls.param if k != "name"]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every knob's default value."""
        return {k: cls.param[k].default for k in cls.knob_names()}

    def knobs(self) -> dict[str, Any]:
        """Every knob's current value."""
        return {k: getattr(self, k) for k in self.knob_names()}

    def check_value(self, name: str, value: Any) -> str | None:
        """Why ``value`` is refused for knob ``name`` (naming the knob, the value and what is
        allowed), or ``None`` if the knob takes it. Nothing is changed."""
        if name not in self.knob_names():
            return f"unknown knob {name!r}; allowed: {', '.join(self.knob_names())}"
        return check_knob(self, name, value)

    def reset(self) -> None:
        """Every knob back to its default."""
        self.param.update(**_copied(self.defaults()))

    def apply_preset(self, name: str) -> str:
        """Set the knobs of preset ``name`` (starting from the defaults); return its text."""
        if name not in self.presets:
            raise ValueError(
                f"{type(self).__name__}: preset {name!r} is not one of {list(self.presets)}"
            )
        knobs, text = self.presets[name]
        self.param.update(**_copied({**self.defaults(), **knobs}))
        return text

    # -- URLs and exports --------------------------------------------------------------------

    def to_query(self) -> dict[str, str]:
        """Every knob as a string, for a URL query (:meth:`from_query` reads it back)."""
        return {k: json.dumps(v) for k, v in self.knobs().items()}

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Lab:
        """A lab from URL query values, parsed strictly: a bad value raises a ValueError that
        names the knob, the value and what is allowed; nothing else is executed."""
        lab = cls()
        for k, text in query.items():
            if k not in lab.knob_names():
                raise ValueError(f"unknown knob {k!r}; allowed: {', '.join(lab.knob_names())}")
            try:
                value = json.loads(text)
            except (TypeError, json.JSONDecodeError):
                raise ValueError(f"knob {k}={text!r} is not a JSON value") from None
            why = lab.check_value(k, value)
            if why is not None:
                raise ValueError(f"knob {k}={text!r}: {why}")
            try:
                setattr(lab, k, value)
            except (ValueError, TypeError) as e:
                raise ValueError(f"knob {k}={text!r}: {e}") from None
        return lab

    def constructor(self, *, changed_only: bool = True) -> str:
        """``SchedulesLab(steps=120, ...)``: Python that makes this lab (only the knobs that
        differ from the defaults, unless ``changed_only`` is False)."""
        defaults = self.defaults()
        knobs = {k: v for k, v in self.knobs().items() if not changed_only or v != defaults[k]}
        args = ", ".join(f"{k}={v!r}" for k, v in knobs.items())
        return f"{type(self).__name__}({args})"

    def export(self, *, trained: Sequence[RunSpec] | None = None, names=None) -> str:
        """A Python snippet that reproduces the sweep and draws its figure.

        ``trained``: the runs as actually trained (live knob changes and forks made on a page,
        :meth:`workbench.Session.trained_specs`) with their plot ``names``; without them the
        snippet trains :meth:`specs` of the current knobs.
        """
        module = type(self).__module__
        head = (
            "import workbench as wb\n"
            f"from {module} import {type(self).__name__}\n\n"
            f"lab = {self.constructor()}\n"
        )
        if trained is None:
            body = "specs = lab.specs()\nnames = lab.names(specs)\n"
        else:
            from ..results import spec_code

            runs = ",\n".join(f"    {spec_code(s)}" for s in trained)
            body = (
                "# the runs as trained on the page, live changes and forks included\n"
                f"specs = [\n{runs},\n]\n"
                f"names = {list(names or self.names(trained))!r}\n"
            )
        return (
            head
            + body
            + "ds = wb.run(specs, progress=True)\n"
            + "fig = lab.curves(ds.assign_coords(name=('run', names)), by=['name'])\n"
            + "fig.show()\n"
        )


def _copied(values: dict) -> dict:
    """Deep enough copies of knob values (lists of lists) that the lab never shares them."""
    return {k: json.loads(json.dumps(v)) if isinstance(v, list) else v for k, v in values.items()}
