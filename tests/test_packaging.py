"""Every package of the library is listed in pyproject.toml (a non-editable install ships only
the listed ones: a package added without its line would be missing there, silently)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "workbench").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), f"not listed in pyproject.toml: {sorted(found - listed)}"
    assert "workbench.kernels" in listed  # shipped from kernels/ (package-dir)
