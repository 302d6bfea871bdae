"""Where Halo keeps the models it prepares, and how a prepared model dir is put in place."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """Halo's cache root: ``$HALO_CACHE_DIR``, else ``~/.cache/halo``."""
    return Path(os.environ.get("HALO_CACHE_DIR", Path.home() / ".cache" / "halo"))


def publish_dir(tmp: Path, target: Path) -> None:
    """Move the finished ``tmp`` dir to ``target`` in one rename (``target`` absent or empty)."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    os.replace(tmp, target)
