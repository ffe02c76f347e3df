# Judges a run and renders it: the terminal table, the verdicts, and the Markdown matrix written
# into docs/compatibility.md.
#
# Verdict rules (differential mode, when both "ours" and "rabbitmq" ran):
#   fails on RabbitMQ                          -> the test is wrong
#   passes on RabbitMQ, fails on ours          -> our bug
#   passes on both, observations differ        -> our bug (a reply text or flag differs)
# Against a single broker every failing cell is a problem. Cells in KNOWN_DIFFERENCES never are.
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from interop.known_differences import KNOWN_DIFFERENCES
from interop.runner import Cell, Status

OURS = "ours"
RABBITMQ = "rabbitmq"
BEGIN = "<!-- interop-matrix:begin -->"
END = "<!-- interop-matrix:end -->"


@dataclass(frozen=True)
class Problem:
    client: str
    scenario: str
    kind: str  # "our bug", "wrong test", "fails"
    detail: str


def _index(cells: Sequence[Cell]) -> dict[tuple[str, str, str], Cell]:
    return {(c.client, c.scenario, c.broker): c for c in cells}


Known = Mapping[tuple[str, str], str]


def problems(
    cells: Sequence[Cell], brokers: Sequence[str], known: Known = KNOWN_DIFFERENCES
) -> list[Problem]:
    index = _index(cells)
    found: list[Problem] = []
    pairs = sorted({(c.client, c.scenario) for c in cells})
    differential = OURS in brokers and RABBITMQ in brokers
    for client, scenario in pairs:
        if (client, scenario) in known:
            continue
        if differential:
            ours, ref = index[client, scenario, OURS], index[client, scenario, RABBITMQ]
            if ref.status is Status.FAIL:
                found.append(Problem(client, scenario, "wrong test", ref.detail))
            elif ours.status is Status.FAIL:
                found.append(Problem(client, scenario, "our bug", ours.detail))
            elif ours.observed != ref.observed:
                detail = f"ours: {ours.observed!r}\n    rabbitmq: {ref.observed!r}"
                found.append(Problem(client, scenario, "our bug (differs)", detail))
        for broker in brokers if not differential else ():
            cell = index[client, scenario, broker]
            if cell.status is Status.FAIL:
                found.append(Problem(client, scenario, f"fails on {broker}", cell.detail))
    return found


def _mark(cell: Cell, bad: set[tuple[str, str]], known: Known) -> str:
    if cell.status is Status.ABSENT:
        return "n/a"
    if (cell.client, cell.scenario) in known and cell.broker == OURS:
        return "known" if cell.status is Status.FAIL else "pass"
    if cell.status is Status.PASS and cell.broker == OURS and (cell.client, cell.scenario) in bad:
        return "DIFF"
    return "pass" if cell.status is Status.PASS else "FAIL"


def _grid(
    cells: Sequence[Cell], brokers: Sequence[str], problem_list: Sequence[Problem], known: Known
) -> tuple[list[str], list[list[str]]]:
    index = _index(cells)
    clients = list(dict.fromkeys(c.client for c in cells))
    scenarios = list(dict.fromkeys(c.scenario for c in cells))
    bad = {(p.client, p.scenario) for p in problem_list}
    rows = []
    for scenario in scenarios:
        row = [scenario]
        for client in clients:
            marks = [_mark(index[client, scenario, b], bad, known) for b in brokers]
            row.append("n/a" if set(marks) == {"n/a"} else "/".join(marks))
        rows.append(row)
    return ["scenario", *clients], rows


def text_table(
    cells: Sequence[Cell],
    brokers: Sequence[str],
    found: Sequence[Problem],
    known: Known = KNOWN_DIFFERENCES,
) -> str:
    header, rows = _grid(cells, brokers, found, known)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    lines.append(f"cells read {'/'.join(brokers)}")
    return "\n".join(lines)


def markdown_table(
    cells: Sequence[Cell],
    brokers: Sequence[str],
    found: Sequence[Problem],
    known: Known = KNOWN_DIFFERENCES,
) -> str:
    header, rows = _grid(cells, brokers, found, known)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary(cells: Sequence[Cell], known: Known = KNOWN_DIFFERENCES) -> str:
    """The closing line: failing cells of a known difference count as skipped, not failed."""
    passed = sum(1 for c in cells if c.status is Status.PASS)
    failed = sum(
        1 for c in cells if c.status is Status.FAIL and (c.client, c.scenario) not in known
    )
    return f"interop: {passed} passed, {failed} failed, {len(cells) - passed - failed} skipped"


def replace_matrix(document: str, matrix: str) -> str:
    """The document with the text between the matrix markers replaced; raises ValueError when the
    markers are missing (the docs' own text is never rewritten)."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(document):
        raise ValueError(f"no {BEGIN} ... {END} section")
    return pattern.sub(lambda _m: f"{BEGIN}\n{matrix}\n{END}", document, count=1)
