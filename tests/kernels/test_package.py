"""kernels/ installs as workbench.kernels, and no top-level `kernels` module is installed."""

import subprocess
import sys


def test_kernels_import_as_workbench_kernels_only(tmp_path):
    code = (
        "import importlib.util, workbench.kernels as k; "
        "assert importlib.util.find_spec('kernels') is None, 'top-level kernels installed'; "
        "print(k.__file__, k.triton_available())"
    )
    # run outside the repo so the source tree is not on sys.path
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0].endswith("kernels/__init__.py")
