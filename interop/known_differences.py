# Cells where our broker knowingly behaves unlike RabbitMQ 3.x, each with the reason.
#
# A cell listed here does not fail the run. docs/compatibility.md prints this list with the matrix.
# Keep it short: a difference nobody chose is a bug to fix, not an entry here.
from __future__ import annotations

# (client, scenario) -> why our broker differs on purpose
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}
