"""JSON state files written atomically and read defensively."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np



def write_json_atomic(path: Path, data: Any) -> None:
    """Write strict JSON (NaN and infinities become null) via a temporary file, so a crash never leaves a
    half-written file behind; a write that fails (a full disk, a size limit) removes its temporary file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path, what: str, remedy: str = "restore it, or remove it and run the command again") -> Any:
    """A JSON state file meltdyn wrote, or a :class:`~meltdyn.errors.StudyError` that names the file, says what
    is wrong and what to do (never a traceback): unreadable, not UTF-8, not JSON."""
    from meltdyn.base.errors import StudyError

    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise StudyError(f"{path} ({what}) cannot be read: {exc.strerror or exc}; {remedy}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "it is empty" if path.stat().st_size == 0 else f"it is not JSON ({str(exc)[:80]})"
        raise StudyError(f"{path} ({what}) is damaged: {reason}; {remedy}") from None


def strict(obj: Any) -> Any:
    """``obj`` with NumPy values made plain, paths made strings, and non-finite numbers made None (JSON's null)."""
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict(obj.tolist())
    if isinstance(obj, np.generic):
        return strict(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
