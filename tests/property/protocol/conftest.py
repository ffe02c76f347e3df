# The property tests drive AMQPConnection with the same scripted client as the unit tests; that
# module lives beside them (tests/unit/protocol), so make it importable from here too.
from __future__ import annotations

import sys
from pathlib import Path

_CLIENT_DIR = str(Path(__file__).resolve().parents[2] / "unit" / "protocol")
if _CLIENT_DIR not in sys.path:
    sys.path.insert(0, _CLIENT_DIR)
