"""Training-dynamics workbench: lockstep sweeps of small runs, and tools for seeing them learn.

Examples
--------
>>> import workbench as wb
>>> base = wb.RunSpec(data="digits", model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
...                   steps=20, batch_size=32, eval_every=10)
>>> ds = wb.run(wb.grid(base, {"seed": range(3)}))
>>> ds.sizes["run"], ds.sizes["step"]
(3, 20)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("training-dynamics-workbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

from . import continual, data, forgetting, schedules, streams
from .cost import Estimate, estimate
from .data import DataSpec, data_spec
from .drift import drifting, episodic
from .engine import Chunk, default_device, run, stream
from .models import MLP, StackedModel, Transformer
from .optim import SGD, AdamW, Lion, Muon
from .penalty import Penalty
from .recurring import power_law, recurring
from .replay import Replay
from .results import Cache, load, save, spec_code, specs_of
from .session import Session
from .slow import EMA, ClassifierAlignment, ErrorMemory, Lookahead, Slow
from .spec import RunSpec, flatten, grid, set_path, varying
from .stream_builders import class_incremental, permuted, rotated
from .streams import TaskStream, sequence
from .track import Track, snapshots
from .trained import trained_specs

__all__ = [
    "EMA",
    "ErrorMemory",
    "Lookahead",
    "Penalty",
    "Replay",
    "Slow",
    "Track",
    "__version__",
    "AdamW",
    "Cache",
    "Chunk",
    "ClassifierAlignment",
    "DataSpec",
    "Estimate",
    "Lion",
    "MLP",
    "Muon",
    "RunSpec",
    "SGD",
    "Session",
    "StackedModel",
    "TaskStream",
    "Transformer",
    "class_incremental",
    "continual",
    "data",
    "data_spec",
    "default_device",
    "drifting",
    "episodic",
    "estimate",
    "flatten",
    "forgetting",
    "grid",
    "load",
    "permuted",
    "power_law",
    "recurring",
    "rotated",
    "run",
    "save",
    "schedules",
    "sequence",
    "set_path",
    "snapshots",
    "spec_code",
    "specs_of",
    "stream",
    "streams",
    "trained_specs",
    "varying",
]
