# `python -m interop`: run the client x scenario matrix against one or more brokers and print it.
#
#   python -m interop                        our broker, started in this process
#   AMQP_URL=amqp://... python -m interop    any broker
#   python -m interop --url NAME=URL ...     several brokers, each labelled NAME
#   python -m interop --rabbitmq             ours and a private RabbitMQ node: differential mode
#   python -m interop --rabbitmq --write-docs   also rewrite docs/compatibility.md's matrix
#
# Exit status 1 when any cell is a problem (see report.py), 0 otherwise.
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

from amqp_broker.testing import BrokerThread
from interop import report
from interop.clients import CLIENTS, REPO, install_node_client
from interop.harness import SCENARIOS
from interop.rabbitmq_node import running_rabbitmq
from interop.runner import Cell, Status, Target, run_matrix

DOC = REPO / "docs" / "compatibility.md"


@contextmanager
def our_broker() -> Iterator[str]:
    with BrokerThread() as broker:
        yield broker.url


@contextmanager
def rabbitmq_node() -> Iterator[str]:
    with running_rabbitmq() as node:
        yield node.url


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m interop",
        description="Run real AMQP clients' scenarios against brokers and print the matrix.",
    )
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="[NAME=]URL",
        help="a broker to test (repeatable; default: $AMQP_URL, else our broker in-process)",
    )
    parser.add_argument(
        "--ours", action="store_true", help="also run our broker in-process (default without URLs)"
    )
    parser.add_argument(
        "--rabbitmq",
        action="store_true",
        help="also start a private RabbitMQ node and compare (needs rabbitmq-server)",
    )
    parser.add_argument("--clients", help="comma-separated subset of clients")
    parser.add_argument("--scenarios", help="comma-separated subset of scenarios")
    parser.add_argument("--jobs", type=int, default=4, help="cells run at once (default 4)")
    parser.add_argument(
        "--write-docs", action="store_true", help=f"rewrite the matrix in {DOC.relative_to(REPO)}"
    )
    return parser.parse_args(argv)


def _subset(names: str | None, known: Sequence[str], what: str) -> list[str]:
    if names is None:
        return list(known)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def _targets(args: argparse.Namespace, stack: ExitStack) -> list[Target]:
    targets: list[Target] = []
    urls = list(args.url) or ([os.environ["AMQP_URL"]] if os.environ.get("AMQP_URL") else [])
    for i, spec in enumerate(urls):
        label, sep, url = spec.partition("=")
        if not sep or "://" in label:
            label, url = (f"url{i + 1}" if len(urls) > 1 else "url"), spec
        targets.append(Target(label, url))
    if args.ours or not urls:
        targets.insert(0, Target(report.OURS, stack.enter_context(our_broker())))
    if args.rabbitmq:
        started = time.monotonic()
        url = stack.enter_context(rabbitmq_node())
        print(f"RabbitMQ node up in {time.monotonic() - started:.1f}s at {url}", flush=True)
        targets.append(Target(report.RABBITMQ, url))
    return targets


def _write_docs(
    cells: Sequence[Cell], brokers: Sequence[str], found: Sequence[report.Problem]
) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    matrix = "\n\n".join(
        [
            f"Last run: {when}, `python -m interop {' '.join(sys.argv[1:])}`".rstrip()
            + f"; each cell reads {' / '.join(brokers)}.",
            report.markdown_table(cells, brokers, found),
            report.summary(cells),
        ]
    )
    DOC.write_text(report.replace_matrix(DOC.read_text(), matrix))
    print(f"wrote the matrix into {DOC.relative_to(REPO)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    clients = [
        c for c in CLIENTS if c.name in _subset(args.clients, [c.name for c in CLIENTS], "clients")
    ]
    scenarios = _subset(args.scenarios, SCENARIOS, "scenarios")
    if any(c.name == "amqplib" for c in clients):
        why = install_node_client()
        if why:
            print(f"amqplib: {why}", file=sys.stderr)
    started = time.monotonic()
    with ExitStack() as stack:
        targets = _targets(args, stack)

        def progress(cell: Cell) -> None:
            if cell.status is Status.FAIL:
                print(
                    f"  FAIL {cell.broker} {cell.client} {cell.scenario}: {cell.detail}", flush=True
                )

        cells = run_matrix(targets, clients, scenarios, jobs=args.jobs, on_cell=progress)
    brokers = [t.label for t in targets]
    found = report.problems(cells, brokers)
    print()
    print(report.text_table(cells, brokers, found))
    for problem in found:
        print(f"{problem.kind}: {problem.client} {problem.scenario}: {problem.detail}")
    if args.write_docs:
        _write_docs(cells, brokers, found)
    print(f"took {time.monotonic() - started:.1f}s")
    print(report.summary(cells))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
