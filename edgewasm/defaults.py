"""The defaults every host starts from: group_data/all.py, read as pyinfra reads it.

For code that works on data without pyinfra's merge (pure functions given a partial
dict, the test bed's image builder): ``setting(data, key)`` is the host's value, else
the default.
"""

from __future__ import annotations

import functools
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GROUP_DEFAULTS = Path(__file__).resolve().parents[1] / "group_data" / "all.py"


@functools.lru_cache(maxsize=1)
def defaults() -> dict[str, Any]:
    return {k: v for k, v in runpy.run_path(str(GROUP_DEFAULTS)).items() if not k.startswith("_")}


def setting(data: Mapping, key: str) -> Any:
    value = data.get(key)
    return defaults()[key] if value is None else value
