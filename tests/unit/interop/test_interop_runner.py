# The runner against a stand-in driver program: results are read per scenario, and a scenario that
# hangs or kills its driver fails alone while the client's other scenarios still run.
from __future__ import annotations

import sys

from interop.runner import Client, Status, Target, run_client

# A driver speaking harness.py's protocol: "hang" never answers, "crash" exits mid-run.
DRIVER = """
import json, sys, time
for name in sys.argv[1:]:
    if name == "hang":
        time.sleep(60)
    if name == "crash":
        print("about to crash", file=sys.stderr, flush=True)
        sys.exit(3)
    print("noise that is not a result", flush=True)
    result = {"scenario": name, "ok": name != "bad", "detail": name, "observed": name.upper()}
    print(json.dumps(result), flush=True)
"""
CLIENT = Client("stand-in", (sys.executable, "-c", DRIVER))
TARGET = Target("ours", "amqp://unused")


def _statuses(scenarios: list[str]) -> list[tuple[str, Status, str]]:
    cells = run_client(TARGET, CLIENT, scenarios, timeout=2.0)
    return [(c.scenario, c.status, c.detail) for c in cells]


def test_each_scenario_gets_its_own_result_line() -> None:
    cells = run_client(TARGET, CLIENT, ["good", "bad"], timeout=2.0)
    assert [(c.scenario, c.status, c.observed) for c in cells] == [
        ("good", Status.PASS, "GOOD"),
        ("bad", Status.FAIL, "BAD"),
    ]


def test_a_hanging_scenario_times_out_and_the_rest_run_in_a_new_driver() -> None:
    got = _statuses(["good", "hang", "after"])
    assert [(name, status) for name, status, _ in got] == [
        ("good", Status.PASS),
        ("hang", Status.FAIL),
        ("after", Status.PASS),
    ]
    assert got[1][2] == "timeout 2s"


def test_a_crashing_driver_fails_that_scenario_with_its_stderr() -> None:
    got = _statuses(["crash", "after"])
    assert got[0][:2] == ("crash", Status.FAIL)
    assert "driver exited 3" in got[0][2] and "about to crash" in got[0][2]
    assert got[1][:2] == ("after", Status.PASS)
