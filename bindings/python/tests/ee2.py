"""A reference matcher of EventEmitter2 patterns (':' as delimiter), checked
against the shared vectors of engine/internal/bus/testdata/ee2_patterns.json; the
tests use it as the oracle of what the engine must deliver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[3] / "engine" / "internal" / "bus" / "testdata" / "ee2_patterns.json"


def load_vectors() -> list[dict[str, Any]] | None:
    """The vectors, or None outside the repository."""
    if not VECTORS.is_file():
        return None
    vectors: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    return vectors


def match(pattern: str, name: str) -> bool:
    """'*' matches one segment, '**' any number (zero included)."""
    return _match(pattern.split(":"), name.split(":"))


def _match(pat: list[str], name: list[str]) -> bool:
    while pat:
        if pat[0] == "**":
            while len(pat) > 1 and pat[1] == "**":
                pat = pat[1:]
            if len(pat) == 1:
                return True
            return any(_match(pat[1:], name[i:]) for i in range(len(name) + 1))
        if not name or (pat[0] != "*" and pat[0] != name[0]):
            return False
        pat, name = pat[1:], name[1:]
    return not name
