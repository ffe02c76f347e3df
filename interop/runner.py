# Runs every (broker, client, scenario) cell, each driver in its own process, a few at a time.
#
# Rules kept here: a cell never takes longer than CELL_TIMEOUT (the driver is killed and the cell
# fails), and a driver that prints no result line fails its cell with its stderr as the detail.
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from interop.clients import REPO, Client

CELL_TIMEOUT = 60.0


class Status(Enum):
    PASS = "pass"
    FAIL = "fail"
    ABSENT = "n/a"  # the client cannot express the scenario (or its driver does not implement it)


@dataclass(frozen=True)
class Target:
    """A broker to run against: a short label for the table and the URL drivers connect to."""

    label: str
    url: str


@dataclass(frozen=True)
class Cell:
    broker: str
    client: str
    scenario: str
    status: Status
    detail: str = ""
    observed: str | None = None


def _env(url: str) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "AMQP_URL": url,
        "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
        "PYTHONUNBUFFERED": "1",
    }


def list_scenarios(client: Client) -> tuple[set[str], str]:
    """The scenarios a driver implements, or an empty set and the reason it could not say."""
    try:
        done = subprocess.run(
            client.argv("--list"),
            cwd=REPO,
            env=_env(""),
            capture_output=True,
            text=True,
            timeout=CELL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return set(), f"driver did not start: {exc}"
    if done.returncode != 0:
        return set(), f"driver did not start: {done.stderr.strip()[-500:]}"
    return set(done.stdout.split()), ""


def run_cell(target: Target, client: Client, scenario: str) -> Cell:
    try:
        done = subprocess.run(
            client.argv(scenario),
            cwd=REPO,
            env=_env(target.url),
            capture_output=True,
            text=True,
            timeout=CELL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Cell(target.label, client.name, scenario, Status.FAIL, f"timeout {CELL_TIMEOUT}s")
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr.strip() or done.stdout.strip())[-500:]
        return Cell(
            target.label,
            client.name,
            scenario,
            Status.FAIL,
            f"no result (exit {done.returncode}): {tail}",
        )
    status = Status.PASS if result.get("ok") else Status.FAIL
    return Cell(
        target.label,
        client.name,
        scenario,
        status,
        str(result.get("detail", "")),
        result.get("observed"),
    )


def run_matrix(
    targets: Sequence[Target],
    clients: Sequence[Client],
    scenarios: Sequence[str],
    *,
    jobs: int,
    on_cell: Callable[[Cell], None] = lambda cell: None,
) -> list[Cell]:
    """Every cell of the matrix; cells a driver does not implement are ABSENT without running."""
    cells: list[Cell] = []
    work: list[tuple[Target, Client, str]] = []
    for client in clients:
        implemented, why = list_scenarios(client)
        for scenario in scenarios:
            for target in targets:
                if why:
                    cells.append(Cell(target.label, client.name, scenario, Status.FAIL, why))
                elif scenario in implemented:
                    work.append((target, client, scenario))
                else:
                    cells.append(Cell(target.label, client.name, scenario, Status.ABSENT))
    # The slow cells (idling through heartbeats) start first so they overlap with the rest.
    work.sort(key=lambda item: item[2] != "heartbeat_idle")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for cell in pool.map(lambda item: run_cell(*item), work):
            on_cell(cell)
            cells.append(cell)
    order = {name: i for i, name in enumerate(scenarios)}
    clients_order = {client.name: i for i, client in enumerate(clients)}
    return sorted(cells, key=lambda c: (order[c.scenario], clients_order[c.client]))
