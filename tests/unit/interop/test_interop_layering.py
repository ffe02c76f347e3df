# The interop suite tests any broker through a URL alone: its drivers and the harness never import
# our broker, and only the command (interop/__main__.py) may start one in-process.
from __future__ import annotations

import ast
from pathlib import Path

import pytest

INTEROP = Path(__file__).resolve().parents[3] / "interop"
MAY_START_OUR_BROKER = {"__main__.py"}


def _imported_tops(path: Path) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            tops.add(node.module.split(".")[0])
    return tops


@pytest.mark.parametrize(
    "path", sorted(INTEROP.rglob("*.py")), ids=lambda p: str(p.relative_to(INTEROP))
)
def test_interop_module_needs_only_a_url(path: Path) -> None:
    if path.relative_to(INTEROP).as_posix() in MAY_START_OUR_BROKER:
        return
    assert "amqp_broker" not in _imported_tops(path), f"{path} imports amqp_broker"
    assert "exchanges" not in _imported_tops(path), f"{path} imports exchanges"
