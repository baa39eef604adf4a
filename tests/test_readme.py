"""README's Python quickstart runs as written (in a scratch directory)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_quickstart_runs_as_written(tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"## Python quickstart\n+```python\n(.*?)```", text, re.S)
    assert block, "README has no Python quickstart block"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.group(1), "README-quickstart", "exec"), namespace)
    ds = namespace["ds"]
    assert ds.sizes["run"] == 12 and ds.sizes["step"] == 2000
    assert (tmp_path / "sweep.nc").exists()
    # the quickstart's claim: a 12-run sweep, grouped by peak LR, learns (chance is 0.1)
    final = ds.eval_acc.isel(eval_step=-1).groupby("group").median()
    assert final.sizes["group"] == 3 and float(final.min()) > 0.3
