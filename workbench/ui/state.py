"""A lab's knobs (and preset) in the page URL.

``?steps=40&workload="mnist1d"`` opens the lab with those knobs (values are JSON, as
:meth:`~workbench.labs.base.Lab.to_query` writes them), and every knob change
rewrites the query so the address bar is always a link to what is on screen. The query is
parsed strictly with the lab's ``from_query``: a bad value shows an alert naming it and the lab
keeps its defaults; nothing in the URL is ever executed.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import panel as pn
import param

__all__ = ["url_state", "parse_search"]


def parse_search(search: str) -> dict[str, str]:
    """``?a=1&b=%22x%22`` -> ``{"a": "1", "b": '"x"'}``; a knob given twice is an error.

    Examples
    --------
    >>> parse_search('?steps=40&workload=%22mnist1d%22')
    {'steps': '40', 'workload': '"mnist1d"'}
    """
    out: dict[str, str] = {}
    for k, v in parse_qsl(search.lstrip("?"), keep_blank_values=True):
        if k in out:
            raise ValueError(f"knob {k!r} appears twice in the URL")
        out[k] = v
    return out


def url_state(
    lab: param.Parameterized,
    *,
    alert: pn.pane.Alert | None = None,
    page: param.Parameterized | None = None,
) -> pn.pane.Alert:
    """Load ``lab``'s knobs from the page URL, then keep the URL in step with them.

    ``page``: an object with a ``preset`` parameter, kept in the URL too (``?preset=...``;
    applied before the knobs, which then override it). Returns the alert pane that reports a
    URL it could not read (hidden otherwise); pass your own ``alert`` to reuse one. Outside a
    served page (no ``pn.state.location``) it does nothing but return the alert.
    """
    alert = alert or pn.pane.Alert("", alert_type="warning", visible=False)
    loc = pn.state.location
    if loc is None:
        return alert
    knobs = [k for k in lab.param if k != "name"]
    try:
        query = parse_search(loc.search or "")
        preset = query.pop("preset", None)
        if preset is not None:
            if page is None or preset not in page.param.preset.objects:
                allowed = page.param.preset.objects if page is not None else []
                raise ValueError(f"preset {preset!r} is not one of {allowed}")
        loaded = type(lab).from_query(query)
    except ValueError as e:
        alert.object = f"**The link's settings were not applied** ({e}); using the defaults."
        alert.visible = True
    else:
        if preset is not None:
            page.preset = preset
            if hasattr(lab, "apply_preset") and preset in getattr(lab, "presets", {}):
                lab.apply_preset(preset)  # its knobs first; the link's knobs override them
        lab.param.update(**{k: getattr(loaded, k) for k in query})

    defaults = {k: lab.param[k].default for k in knobs}

    def _write(*_events) -> None:
        # the knobs that differ from what the link's preset (or the defaults) would set
        base = defaults
        if page is not None and page.preset in lab.presets:
            base = {**defaults, **lab.presets[page.preset][0]}
        changed = {k: v for k, v in lab.to_query().items() if getattr(lab, k) != base[k]}
        if page is not None and page.preset in lab.presets:
            changed = {"preset": page.preset, **changed}
        loc.search = f"?{urlencode(changed)}" if changed else ""

    lab.param.watch(_write, knobs)
    if page is not None:
        page.param.watch(_write, "preset")
    return alert
