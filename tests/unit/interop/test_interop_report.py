# The interop suite's verdicts: which cells are our bugs, which are wrong tests, and the docs
# section the run rewrites.
from __future__ import annotations

import pytest

from interop import report
from interop.runner import Cell, Status

PASS, FAIL, ABSENT = Status.PASS, Status.FAIL, Status.ABSENT
BROKERS = [report.OURS, report.RABBITMQ]


def _pair(
    ours: Status, ref: Status, *, seen: tuple[str | None, str | None] = (None, None)
) -> list[Cell]:
    return [
        Cell(report.OURS, "pika", "basic_get", ours, "ours detail", seen[0]),
        Cell(report.RABBITMQ, "pika", "basic_get", ref, "ref detail", seen[1]),
    ]


def _kinds(cells: list[Cell], brokers: list[str] = BROKERS) -> list[str]:
    return [p.kind for p in report.problems(cells, brokers)]


def test_failing_only_on_ours_is_our_bug() -> None:
    assert _kinds(_pair(FAIL, PASS)) == ["our bug"]


def test_failing_on_rabbitmq_is_a_wrong_test_whatever_ours_does() -> None:
    assert _kinds(_pair(PASS, FAIL)) == ["wrong test"]
    assert _kinds(_pair(FAIL, FAIL)) == ["wrong test"]


def test_passing_on_both_with_different_observations_is_our_bug() -> None:
    cells = _pair(PASS, PASS, seen=("404 NOT_FOUND - no queue", "404 NOT_FOUND - no queue 'q'"))
    assert _kinds(cells) == ["our bug (differs)"]
    table = report.text_table(cells, BROKERS, report.problems(cells, BROKERS))
    assert "DIFF/pass" in table


def test_passing_on_both_with_equal_observations_is_fine() -> None:
    assert _kinds(_pair(PASS, PASS, seen=("x", "x"))) == []
    assert _kinds(_pair(ABSENT, ABSENT)) == []


def test_single_broker_run_reports_every_failure() -> None:
    cells = [Cell("url", "pika", "basic_get", FAIL, "boom")]
    assert _kinds(cells, ["url"]) == ["fails on url"]


def test_known_difference_is_not_a_problem() -> None:
    known = {("pika", "basic_get"): "chosen on purpose"}
    cells = _pair(FAIL, PASS)
    assert report.problems(cells, BROKERS, known) == []
    assert "known/pass" in report.text_table(cells, BROKERS, [], known)
    assert report.summary(cells, known) == "interop: 1 passed, 0 failed, 1 skipped"


def test_summary_counts_cells_for_the_closing_line() -> None:
    cells = [
        *_pair(PASS, PASS),
        Cell(report.OURS, "kombu", "recover", FAIL),
        *_pair(ABSENT, ABSENT),
    ]
    assert report.summary(cells) == "interop: 2 passed, 1 failed, 2 skipped"


def test_markdown_table_has_one_row_per_scenario_and_a_column_per_client() -> None:
    cells = [*_pair(PASS, PASS), *[Cell(b, "kombu", "basic_get", ABSENT) for b in BROKERS]]
    lines = report.markdown_table(cells, BROKERS, []).splitlines()
    assert lines[0] == "| scenario | pika | kombu |"
    assert lines[2] == "| basic_get | pass/pass | n/a |"


def test_replace_matrix_rewrites_only_between_the_markers() -> None:
    doc = f"intro\n{report.BEGIN}\nold\n{report.END}\nafter\n"
    assert report.replace_matrix(doc, "new") == f"intro\n{report.BEGIN}\nnew\n{report.END}\nafter\n"


def test_replace_matrix_refuses_a_document_without_markers() -> None:
    with pytest.raises(ValueError, match="interop-matrix"):
        report.replace_matrix("no markers here", "new")
