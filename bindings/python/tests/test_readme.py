"""The README examples run as they are written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
READMES = {
    "repository": (HERE.parents[2] / "README.md", "## Python"),
    "package": (HERE.parent / "README.md", ""),
}


def first_python_block(path: Path, section: str) -> str | None:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if section:
        if section not in text:
            return None
        text = text[text.index(section) :]
    m = re.search(r"```python\n(.*?)```", text, re.S)
    return m.group(1) if m else None


@pytest.mark.parametrize("which", sorted(READMES))
def test_readme_example_runs(which: str, tmp_path: Path) -> None:
    path, section = READMES[which]
    code = first_python_block(path, section)
    if code is None:
        pytest.skip(f"no Python example in {path}")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "say:chat:hello from" in out.stdout and "set:color from" in out.stdout
    assert re.search(r"replies: \{'127\.0\.0\.1:\d+': 'I am 127\.0\.0\.1:\d+'\}", out.stdout)
    assert "b reads a's info: {'cpus': 8}" in out.stdout
