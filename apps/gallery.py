"""The index page: one card per lab app, with a sketch and a one-line description.

``workbench serve`` serves it at ``/`` (``panel serve ... --index apps/gallery.py``) beside the
lab apps, so a card's link ``./schedules`` opens ``/schedules``.
"""

from __future__ import annotations

import panel as pn

pn.extension()

# (app path, title, one line, thumbnail as inline SVG): a new lab adds a row here.
LABS = [
    (
        "schedules",
        "Learning-rate schedules",
        "WSD, WSD-S, cosine, re-warming and your own drawn schedule: the loss a fitted law "
        "predicts before you train, a live sweep to steer and fork, the river valley animated.",
        """<svg viewBox="0 0 200 90" width="200" height="90" role="img" aria-label="LR curves">
  <rect width="200" height="90" fill="#f8fafc"/>
  <polyline fill="none" stroke="#636efa" stroke-width="3"
    points="10,80 30,15 150,15 190,80"/>
  <path fill="none" stroke="#ef553b" stroke-width="3"
    d="M10,80 L30,15 C90,15 130,70 190,80"/>
</svg>""",
    ),
    (
        "continual",
        "Continual learning: replay and forgetting",
        "A stream of tasks and a replay memory: the stability gap after each switch, the "
        "accuracy matrix, forgetting curves with half-lives, and the replay ratio as a live "
        "slider.",
        """<svg viewBox="0 0 200 90" width="200" height="90" role="img" aria-label="Forgetting">
  <rect width="200" height="90" fill="#f8fafc"/>
  <line x1="70" y1="8" x2="70" y2="84" stroke="#9ca3af" stroke-dasharray="3,3"/>
  <line x1="130" y1="8" x2="130" y2="84" stroke="#9ca3af" stroke-dasharray="3,3"/>
  <path fill="none" stroke="#e69f00" stroke-width="3"
    d="M10,80 C25,20 45,15 70,15 C74,60 80,62 90,40 C105,30 120,30 130,32 C135,60 150,55 190,50"/>
  <path fill="none" stroke="#56b4e9" stroke-width="3"
    d="M10,80 C25,20 45,15 70,15 C72,80 78,84 130,84 L190,84"/>
</svg>""",
    ),
    (
        "landscape",
        "Loss landscapes and the edge of stability",
        "Slices of the loss around trained runs with their paths on top, zoomable; lines "
        "between solutions and their barrier; sharpness rising to 2/η; distance from init.",
        """<svg viewBox="0 0 200 90" width="200" height="90" role="img" aria-label="Contours">
  <rect width="200" height="90" fill="#f8fafc"/>
  <ellipse cx="110" cy="48" rx="80" ry="36" fill="#e5e7eb" stroke="#9ca3af"/>
  <ellipse cx="110" cy="48" rx="52" ry="22" fill="#f3f4f6" stroke="#9ca3af"/>
  <ellipse cx="110" cy="48" rx="24" ry="9" fill="#ffffff" stroke="#9ca3af"/>
  <path fill="none" stroke="#0072b2" stroke-width="3" d="M22,14 C60,20 70,60 108,48"/>
  <path fill="none" stroke="#e69f00" stroke-width="3" d="M30,82 C70,80 80,40 114,50"/>
  <circle cx="108" cy="48" r="4" fill="#0072b2"/><circle cx="114" cy="50" r="4" fill="#e69f00"/>
</svg>""",
    ),
    (
        "fastslow",
        "Fast and slow learning",
        "Lookahead, EMA slow weights, a slow backbone, CLS-ER's plastic and stable memories "
        "and a fast error memory under drift: fast and slow copies overlaid, their ratios live.",
        """<svg viewBox="0 0 200 90" width="200" height="90" role="img" aria-label="Fast and slow">
  <rect width="200" height="90" fill="#f8fafc"/>
  <polyline fill="none" stroke="#9ca3af" stroke-width="2"
    points="10,80 25,40 35,62 50,30 62,52 78,24 90,44 106,22 118,40 134,20 146,36
            162,18 174,32 190,16"/>
  <path fill="none" stroke="#0072b2" stroke-width="3.5" d="M10,80 C40,50 80,36 190,26"/>
</svg>""",
    ),
]

_CARD_CSS = """
a.lab-card {display: flex; gap: 16px; align-items: center; padding: 14px; width: 560px;
  border: 1px solid #d0d7de; border-radius: 10px; text-decoration: none; color: inherit;
  background: white;}
a.lab-card:hover {border-color: #636efa; box-shadow: 0 2px 8px rgba(0,0,0,.08);}
a.lab-card h3 {margin: 0 0 6px 0; color: #1f2937;}
a.lab-card p {margin: 0; color: #4b5563;}
"""


def card(path: str, title: str, line: str, svg: str) -> pn.pane.HTML:
    """One lab's card: the whole card is a link to its app."""
    html = f'<a class="lab-card" href="./{path}">{svg}<div><h3>{title}</h3><p>{line}</p></div></a>'
    return pn.pane.HTML(html, stylesheets=[_CARD_CSS], margin=(8, 0))


def create_app() -> pn.Column:
    """The gallery page (a fresh layout per browser session)."""
    return pn.Column(
        "# Training-dynamics workbench",
        "Small sweeps trained in lockstep, answered while you look at the slider. Pick a lab:",
        *(card(*lab) for lab in LABS),
        margin=(0, 20),
    )


if pn.state.served:
    create_app().servable(title="workbench gallery")
