# Enforces the dependency direction of ARCHITECTURE.md by scanning every import statement.
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# module prefix -> the top-level names (and amqp_broker sub-packages) it may import
ALLOWED: dict[str, set[str]] = {
    "exchanges": {"exchanges"},
    "amqp_broker.errors": set(),
    "amqp_broker.field_types": set(),
    "amqp_broker.lazy_names": set(),
    "amqp_broker.version": set(),
    "amqp_broker.ctl": set(),  # a client of the management API: standard library only
    "amqp_broker.protocol": {
        "pamqp",
        "amqp_broker.errors",
        "amqp_broker.field_types",
        "amqp_broker.protocol",
        "amqp_broker.version",
    },
    "amqp_broker.core": {
        "exchanges",
        "pamqp",
        "amqp_broker.errors",
        "amqp_broker.field_types",
        "amqp_broker.core",
    },
    "amqp_broker.config": {"amqp_broker.version"},
    "amqp_broker.auth": {"amqp_broker.errors", "amqp_broker.auth"},
    "amqp_broker.store": {
        "pamqp",
        "amqp_broker.lazy_names",
        "amqp_broker.core",
        "amqp_broker.protocol",
        "amqp_broker.errors",
        "amqp_broker.store",
    },
    "amqp_broker.tls": {"amqp_broker.config"},
    "amqp_broker.listeners": set(),  # bound before trio loads (cold start): stdlib only
    "amqp_broker.config_file": {"amqp_broker.config", "amqp_broker.auth"},
    "amqp_broker.broker": {
        "pamqp",
        "amqp_broker.store",
        "amqp_broker.core",
        "amqp_broker.protocol",
        "amqp_broker.errors",
        "amqp_broker.config",
        "amqp_broker.version",
        "amqp_broker.auth",
    },
    "amqp_broker.inspection": {
        "pamqp",
        "amqp_broker.broker",
        "amqp_broker.core",
        "amqp_broker.protocol",
    },
    "amqp_broker.injection": {
        "pamqp",
        "amqp_broker.broker",
        "amqp_broker.core",
        "amqp_broker.errors",
        "amqp_broker.protocol",
    },
    "amqp_broker.management": {
        "trio",
        "hypercorn",
        "starlette",
        "prometheus_client",
        "pamqp",
        "amqp_broker.broker",
        "amqp_broker.inspection",
        "amqp_broker.injection",
        "amqp_broker.auth",
        "amqp_broker.config",
        "amqp_broker.server",
        "amqp_broker.core",
        "amqp_broker.protocol",
        "amqp_broker.errors",
        "amqp_broker.version",
        "amqp_broker.management",
    },
    "amqp_broker.server": {
        "trio",
        "amqp_broker.store",
        "amqp_broker.broker",
        "amqp_broker.protocol",
        "amqp_broker.config",
        "amqp_broker.errors",
        "amqp_broker.tls",
        "amqp_broker.listeners",
    },
}
STDLIB = set(__import__("sys").stdlib_module_names)


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("amqp_broker", "exchanges"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append((".".join(parts), path))
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from amqp_broker import inspection" imports amqp_broker.inspection
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _rule(module: str) -> set[str] | None:
    best = None
    for prefix in ALLOWED:
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best)
        ):
            best = prefix
    return None if best is None else ALLOWED[best]


@pytest.mark.parametrize(("module", "path"), _modules(), ids=str)
def test_module_imports_only_what_its_layer_allows(module: str, path: Path) -> None:
    allowed = _rule(module)
    if allowed is None:
        return  # top layers (testing, cli, plugin, package root) may import anything below
    for name in _imports(path):
        top = name.split(".")[0]
        if top in STDLIB or top == "__future__":
            continue
        assert any(name == ok or name.startswith(ok + ".") for ok in allowed), (
            f"{module} imports {name}, outside its layer"
        )


def test_exchanges_package_uses_the_standard_library_only() -> None:
    for module, path in _modules():
        if module.startswith("exchanges"):
            for name in _imports(path):
                top = name.split(".")[0]
                assert top in STDLIB or top in ("exchanges", "__future__"), (module, name)
