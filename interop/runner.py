# Runs every (broker, client, scenario) cell: one driver process per (broker, client) runs that
# client's scenarios in order, a few such processes at a time.
#
# Rules kept here: a scenario never takes longer than CELL_TIMEOUT (the driver is killed, the cell
# fails, and the client's remaining scenarios run in a new process); a driver that dies fails the
# scenario it was running with its stderr as the detail.
from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import IO, Any

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


def _reader(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _cell(target: Target, client: Client, scenario: str, result: dict[str, Any]) -> Cell:
    status = Status.PASS if result.get("ok") else Status.FAIL
    detail = str(result.get("detail", ""))
    return Cell(target.label, client.name, scenario, status, detail, result.get("observed"))


def _run_batch(
    target: Target, client: Client, scenarios: Sequence[str], timeout: float
) -> list[Cell]:
    """Run scenarios in one driver process until they are done, one fails to answer in time, or
    the driver dies; the cells of the scenarios it answered for, plus one failed cell."""
    cells: list[Cell] = []
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            client.argv(*scenarios),
            cwd=REPO,
            env=_env(target.url),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its own process group: a Celery worker or tool goes with it
        )
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
        try:
            for scenario in scenarios:
                deadline = time.monotonic() + timeout
                result: dict[str, Any] | None = None
                while result is None:
                    try:
                        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        why = f"timeout {timeout:.0f}s"
                        return [*cells, Cell(target.label, client.name, scenario, Status.FAIL, why)]
                    if line is None:
                        process.wait()
                        stderr.seek(0)
                        why = f"driver exited {process.returncode}: {stderr.read()[-500:]}"
                        return [*cells, Cell(target.label, client.name, scenario, Status.FAIL, why)]
                    with contextlib.suppress(ValueError):
                        parsed = json.loads(line)
                        if isinstance(parsed, dict) and parsed.get("scenario") == scenario:
                            result = parsed
                cells.append(_cell(target, client, scenario, result))
            return cells
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            process.stdout.close()


def run_client(
    target: Target, client: Client, scenarios: Sequence[str], timeout: float = CELL_TIMEOUT
) -> list[Cell]:
    """All of one client's scenarios against one broker, in as few driver processes as it takes:
    after a timeout or a crash the rest run in a fresh process."""
    cells: list[Cell] = []
    while len(cells) < len(scenarios):
        cells += _run_batch(target, client, scenarios[len(cells) :], timeout)
    return cells


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
    work: list[tuple[Target, Client, list[str]]] = []
    for client in clients:
        implemented, why = list_scenarios(client)
        runnable = [s for s in scenarios if s in implemented]
        for target in targets:
            if runnable:
                work.append((target, client, runnable))
            for scenario in scenarios:
                if why:
                    cells.append(Cell(target.label, client.name, scenario, Status.FAIL, why))
                elif scenario not in implemented:
                    cells.append(Cell(target.label, client.name, scenario, Status.ABSENT))
    # The longest batches (a worker process to start, several to idle through) go first.
    work.sort(key=lambda item: -len(item[2]))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for batch in pool.map(lambda item: run_client(*item), work):
            for cell in batch:
                on_cell(cell)
            cells += batch
    order = {name: i for i, name in enumerate(scenarios)}
    clients_order = {client.name: i for i, client in enumerate(clients)}
    return sorted(cells, key=lambda c: (order[c.scenario], clients_order[c.client]))
