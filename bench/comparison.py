# bench/compare: every scenario against our broker and a private RabbitMQ node, interleaved over
# several rounds, reported as medians and the ratio ours/RabbitMQ with the targets.
#
# Rules kept here:
# - Each round starts both brokers fresh (that is where cold start and idle memory come from)
#   and alternates which goes first, so a slow phase of the shared machine hurts both alike.
# - The machine's load average is recorded before every broker's turn; the load generator's
#   ceiling is measured and printed with every run.
# - Only measurements whose exactly-once/order check passed count; a failure is shown as such.
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench.brokers import REPO, OurBroker, RabbitMQ, Target
from bench.loadgen import consumer_ceiling, publisher_ceiling
from bench.scenarios import Measurement, Plan, Scale, run_all

DOCS = REPO / "docs"
# Smaller than bench.run's defaults: every round runs both brokers on a shared 2-core machine.
COMPARE_SCALE = Scale(throughput=20_000, fanout=5_000, latency_seconds=3.0)
BEGIN = "<!-- bench/compare: begin (generated; edit bench/comparison.py instead) -->"
END = "<!-- bench/compare: end -->"


@dataclass(frozen=True)
class Goal:
    """What the issue asks of a scenario: a bound on the ratio, an absolute bound, or both."""

    min_ratio: float | None = None
    max_ratio: float | None = None
    max_value: float | None = None

    def text(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f">= {self.min_ratio:g}x")
        if self.max_ratio is not None:
            parts.append(f"<= {self.max_ratio:.2g}x")
        if self.max_value is not None:
            parts.append(f"< {self.max_value:g}")
        return ", ".join(parts)

    def met(self, ours: float, ratio: float | None) -> bool:
        if ratio is None and (self.min_ratio is not None or self.max_ratio is not None):
            return False
        if self.min_ratio is not None and ratio is not None and ratio < self.min_ratio:
            return False
        if self.max_ratio is not None and ratio is not None and ratio > self.max_ratio:
            return False
        return self.max_value is None or ours < self.max_value


# scenario label prefix -> target (the first prefix that matches wins)
TARGETS: list[tuple[str, Goal]] = [
    ("publish-only", Goal(min_ratio=1.0)),
    ("end-to-end", Goal(min_ratio=1.0)),
    ("confirms", Goal(min_ratio=1.0)),
    ("fanout", Goal(min_ratio=1.0)),
    ("priority", Goal(min_ratio=1.0)),
    ("topic", Goal(min_ratio=3.0)),
    ("latency", Goal()),  # p99 only, below
    ("cold start", Goal(max_ratio=0.05, max_value=0.25)),
    ("idle memory", Goal(max_value=45.0)),
    ("memory per", Goal(max_ratio=1 / 3)),
]


def target_for(scenario: str) -> Goal | None:
    if scenario.startswith("latency"):
        return Goal(max_ratio=1.0) if scenario.endswith("p99") else None
    if scenario.endswith("time to open"):
        return None
    for prefix, target in TARGETS:
        if scenario.startswith(prefix) or f": {prefix}" in scenario:
            return target
    return None


@dataclass
class Row:
    scenario: str
    unit: str
    higher_is_better: bool
    values: dict[str, list[float]] = field(default_factory=dict)  # broker -> ok values
    failures: dict[str, list[str]] = field(default_factory=dict)

    def median(self, broker: str) -> float | None:
        values = self.values.get(broker)
        return statistics.median(values) if values else None

    def ratio(self) -> float | None:
        ours, theirs = self.median("ours"), self.median("RabbitMQ")
        if ours is None or theirs is None or theirs <= 0:
            return None
        return ours / theirs


@dataclass
class Comparison:
    rows: dict[str, Row] = field(default_factory=dict)
    loads: list[tuple[str, int, tuple[float, float, float]]] = field(default_factory=list)
    ceilings: list[str] = field(default_factory=list)
    rounds: int = 0
    scale: dict[str, object] = field(default_factory=dict)
    started: str = ""
    finished: str = ""

    def add(self, broker: str, m: Measurement) -> None:
        row = self.rows.setdefault(m.scenario, Row(m.scenario, m.unit, m.higher_is_better))
        if m.ok:
            row.values.setdefault(broker, []).append(m.value)
        else:
            row.failures.setdefault(broker, []).append(m.detail)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("msg/s", "B"):
        return f"{value:,.0f} {unit}"
    if unit in ("ms", "s"):
        return f"{value:,.3g} {unit}" if value < 10 else f"{value:,.1f} {unit}"
    return f"{value:,.1f} {unit}"


def table(comparison: Comparison) -> list[str]:
    lines = [
        "| scenario | ours | RabbitMQ | ours/RabbitMQ | target | met |",
        "|---|---:|---:|---:|---|:-:|",
    ]
    for row in comparison.rows.values():
        ours, theirs, ratio = row.median("ours"), row.median("RabbitMQ"), row.ratio()
        target = target_for(row.scenario)
        met = ""
        if target is not None:
            met = "yes" if ours is not None and target.met(ours, ratio) else "**no**"
        failed = "; ".join(f"{b} failed: {d[0]}" for b, d in row.failures.items() if d)
        cell = _fmt(ours, row.unit) + (" (failed)" if "ours" in row.failures else "")
        lines.append(
            f"| {row.scenario} | {cell} | {_fmt(theirs, row.unit)} | "
            f"{f'{ratio:.2f}x' if ratio is not None else '—'} | "
            f"{target.text() if target else ''} | {met} |"
        )
        if failed:
            lines.append(f"| ↳ {failed[:200]} | | | | | |")
    return lines


def machine() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal"):
                memory = int(line.split()[1]) // 1024
    versions = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "rabbitmq-server", "erlang-base"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; {memory:,} MiB RAM; Linux {platform.release()}",
        f"- Python {platform.python_version()} (ours); {', '.join(v for v in versions if v)}",
    ]


def markdown(comparison: Comparison) -> str:
    lines = [
        BEGIN,
        f"Measured {comparison.started} to {comparison.finished} UTC, {comparison.rounds} "
        "rounds, both brokers started fresh each round in alternating order; medians over "
        "rounds.",
        "",
        *machine(),
        "- Load generator ceiling (its hot loops against a counting sink / blasting source):",
        *[f"  - {c}" for c in comparison.ceilings],
        "- Load average (1, 5, 15 min) before each broker's turn: "
        + "; ".join(f"{b} r{r}: {a[0]:.1f}/{a[1]:.1f}/{a[2]:.1f}" for b, r, a in comparison.loads),
        f"- Message counts: {json.dumps(comparison.scale)}",
        "",
        *table(comparison),
        "",
        "![ratios ours/RabbitMQ](performance-ratios.png)",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_docs(comparison: Comparison) -> None:
    path = DOCS / "performance.md"
    section = markdown(comparison)
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    path.write_text(text)
    (DOCS / "performance-results.json").write_text(
        json.dumps(
            {
                **{k: v for k, v in asdict(comparison).items() if k != "rows"},
                "rows": [asdict(row) for row in comparison.rows.values()],
            },
            indent=1,
        )
        + "\n"
    )
    plot(comparison, DOCS / "performance-ratios.png")


def plot(comparison: Comparison, path: Path) -> None:
    # matplotlib is the bench extra: imported here so scenarios and the smoke test run without it
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = [row for row in comparison.rows.values() if row.ratio() is not None]
    labels, ratios, colours = [], [], []
    for row in rows:
        ratio = row.ratio()
        assert ratio is not None
        target = target_for(row.scenario)
        ours = row.median("ours")
        if target is None or ours is None:
            colour = "#999999"
        else:
            colour = "#2a9d55" if target.met(ours, ratio) else "#d0453a"
        better = "higher" if row.higher_is_better else "lower"
        labels.append(f"{row.scenario} ({better} is better)")
        ratios.append(ratio)
        colours.append(colour)
    figure, axes = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    axes.barh(range(len(rows)), ratios, color=colours)
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel("ours / RabbitMQ (log scale); green: target met, red: missed, grey: no target")
    axes.set_title(f"trio-amqp-broker vs RabbitMQ, medians of {comparison.rounds} rounds")
    for i, ratio in enumerate(ratios):
        axes.text(ratio, i, f" {ratio:.2f}x", va="center", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def print_row(broker: str, m: Measurement) -> None:
    flag = "" if m.ok else f"  FAILED [{m.detail}]"
    print(f"  {broker:<9}{m.scenario:<58}{m.value:>14,.2f} {m.unit}{flag}", flush=True)


def measure_ceilings(count: int) -> list[str]:
    lines = []
    for size in (16, 1024):
        publish = publisher_ceiling(count, size)
        consume = consumer_ceiling(count, size)
        lines.append(
            f"{size} B bodies: publishing {publish:,.0f} msg/s, consuming {consume:,.0f} msg/s"
        )
    return lines


def compare(
    rounds: int,
    plan: Plan,
    brokers: list[tuple[str, Callable[[], Target]]],
    ceiling_count: int,
    memory_rounds: int = 1,
) -> Comparison:
    comparison = Comparison(rounds=rounds, scale=asdict(plan.scale))
    comparison.started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    comparison.ceilings = measure_ceilings(ceiling_count)
    for line in comparison.ceilings:
        print(f"load generator ceiling, {line}", flush=True)
    for r in range(rounds):
        order = brokers if r % 2 == 0 else brokers[::-1]
        # A million queued messages takes minutes per broker: measured in the first rounds only
        # (memory does not depend on the machine's load as throughput does).
        plan_now = plan if r < memory_rounds else replace(plan, skip=(*plan.skip, "memory"))
        for name, start in order:
            load = os.getloadavg()
            comparison.loads.append((name, r + 1, load))
            print(f"round {r + 1}/{rounds}: {name} (load average {load[0]:.2f})", flush=True)
            target = start()
            try:
                run_all(target, plan_now, lambda m, n=name: (comparison.add(n, m), print_row(n, m)))
            finally:
                target.stop()
    comparison.finished = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    return comparison


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bench/compare",
        description="Every benchmark scenario against our broker and RabbitMQ, interleaved.",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--memory-rounds", type=int, default=1, help="rounds that queue a million messages"
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--only", nargs="*", default=(), help="scenario keys to run")
    parser.add_argument(
        "--write-docs", action="store_true", help="update docs/performance.md and the plot"
    )
    args = parser.parse_args(argv)
    plan = Plan(Scale.quick() if args.quick else COMPARE_SCALE, tuple(args.only))
    brokers: list[tuple[str, Callable[[], Target]]] = [("ours", OurBroker), ("RabbitMQ", RabbitMQ)]
    comparison = compare(
        args.rounds, plan, brokers, 2_000 if args.quick else 200_000, args.memory_rounds
    )
    print()
    print("\n".join(table(comparison)))
    if args.write_docs:
        write_docs(comparison)
        print(f"wrote {DOCS / 'performance.md'} and the plot")
