"""One colour per name, the same in every panel of a page: :class:`ColourMap`.

The palette is colour-blind safe: Okabe & Ito's eight colours ("Color Universal Design",
2008), then Paul Tol's "muted" scheme (https://personal.sron.nl/~pault/) when more names are
needed; no two of them differ only in red against green. Grey is kept out of it: it is
reserved for reference lines (a previous sweep, measured curves, a prediction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = [
    "DASHES",
    "OKABE_ITO",
    "PALETTE",
    "REFERENCE",
    "TOL_MUTED",
    "ColourMap",
    "colour_of",
    "variants",
]

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#000000",  # black
    "#F0E442",  # yellow
)
TOL_MUTED = (
    "#999933",  # olive
    "#882255",  # wine
    "#88CCEE",  # cyan
    "#CC6677",  # rose
    "#44AA99",  # teal
    "#117733",  # green
    "#AA4499",  # purple
    "#332288",  # indigo
    "#DDCC77",  # sand
)
# Handed out in this order: the strong colours first; Tol's in the order that sets each apart
# from the Okabe-Ito ones before it (indigo, close to black, late); the two pale yellows, faint
# on white, last.
PALETTE = OKABE_ITO[:7] + TOL_MUTED[:8] + (OKABE_ITO[7], TOL_MUTED[8])
REFERENCE = "#A0A0A0"  # grey: a previous sweep, measured curves, predictions; never a name's
# Line dashes of the variants of one name (e.g. the forks of a schedule); "dot" is left out:
# it marks diverged runs.
DASHES = ("solid", "dash", "longdash", "dashdot", "longdashdot")


class ColourMap:
    """A stable colour per name: the first name asked for gets the palette's first colour,
    the next new name the next one, and a name keeps its colour for the map's lifetime.

    Make one map per page and hand it to every figure builder, so a schedule has the same
    colour in the LR preview, the live curves and the river valley. Seed it with every name
    the page can show, in a fixed order (e.g. every schedule kind of a lab), and the colours
    do not depend on which names the user ticked or in what order they were first drawn.

    Parameters
    ----------
    names
        Names to assign first, in this order.
    fixed
        Names with a colour of the caller's (hex); their colours are not given to other names.
    palette
        The colours handed out, in order; after the last, they are reused from the start.

    Examples
    --------
    >>> cmap = ColourMap(["wsd", "cosine", "constant"])
    >>> cmap["constant"], cmap["wsd"]
    ('#009E73', '#0072B2')
    >>> cmap.assign(["linear", "cosine"])
    ['#CC79A7', '#E69F00']
    >>> list(cmap)
    ['wsd', 'cosine', 'constant', 'linear']
    """

    def __init__(
        self,
        names: Iterable[str] = (),
        *,
        fixed: Mapping[str, str] | None = None,
        palette: Iterable[str] = PALETTE,
    ) -> None:
        self.palette = tuple(palette)
        if not self.palette:
            raise ValueError("ColourMap: palette is empty; allowed: one colour or more")
        if len(set(self.palette)) != len(self.palette):
            raise ValueError(f"ColourMap: palette={self.palette} repeats a colour")
        self._colours: dict[str, str] = dict(fixed or {})
        taken = set(self._colours.values())
        self._free = [c for c in self.palette if c not in taken] or list(self.palette)
        self._next = 0
        self.assign(names)

    def __getitem__(self, name: str) -> str:
        name = str(name)
        if name not in self._colours:
            self._colours[name] = self._free[self._next % len(self._free)]
            self._next += 1
        return self._colours[name]

    def assign(self, names: Iterable[str]) -> list[str]:
        """The colour of each of ``names``, assigning new ones in order."""
        return [self[n] for n in names]

    def __contains__(self, name: object) -> bool:
        return name in self._colours

    def __iter__(self) -> Iterator[str]:
        return iter(self._colours)

    def __len__(self) -> int:
        return len(self._colours)

    def items(self) -> list[tuple[str, str]]:
        """``(name, colour)`` of every name assigned so far, in assignment order."""
        return list(self._colours.items())

    def __repr__(self) -> str:
        return f"ColourMap({self._colours})"


#: What a figure's ``colours`` argument takes: a page's map, a plain mapping, or ``None``.
Colours = ColourMap | Mapping[str, str] | None


def colour_of(colours: ColourMap | Mapping[str, str] | None) -> ColourMap:
    """The :class:`ColourMap` a figure builder colours with: ``colours`` itself, a map that
    keeps a plain mapping's colours (and gives other names the unused ones), or a fresh map.

    Examples
    --------
    >>> colour_of({"wsd": "#000000"})["cosine"]
    '#0072B2'
    """
    if colours is None:
        return ColourMap()
    if isinstance(colours, ColourMap):
        return colours
    if isinstance(colours, Mapping):
        return ColourMap(fixed={str(k): str(v) for k, v in colours.items()})
    raise ValueError(
        f"colours={colours!r} is not a colour map; allowed: a ColourMap, a mapping of names "
        "to colours, or None"
    )


def variants(labels: Iterable[str], key: Callable[[str], str]) -> dict[str, tuple[str, int]]:
    """``{label: (key(label), k)}``: ``k`` counts the labels before it with the same key
    (0: the first, drawn solid; later ones dashed with :data:`DASHES`).

    Examples
    --------
    >>> variants(["wsd", "cos", "wsd · decay@50"], lambda s: s.split(" · ")[0])
    {'wsd': ('wsd', 0), 'cos': ('cos', 0), 'wsd · decay@50': ('wsd', 1)}
    """
    seen: dict[str, int] = {}
    out = {}
    for label in dict.fromkeys(labels):
        k = str(key(label))
        out[label] = (k, seen.get(k, 0))
        seen[k] = seen.get(k, 0) + 1
    return out
