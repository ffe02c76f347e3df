# Package names that load on first use (PEP 562), so that importing a package does not import
# what its names live in. `amqp-broker` imports amqp_broker and amqp_broker.store before it
# listens; loading the broker, trio and the store's journal there would cost its cold start
# about 100 ms (docs/performance.md, "Cold start").
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level __getattr__ for `package`: each name in `homes` is imported from its home
    module when first asked for, then kept in the package so later lookups skip this."""

    def module_getattr(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return module_getattr
