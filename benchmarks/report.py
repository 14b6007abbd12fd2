"""The results: a table on stdout, a JSON file and a chart of the ratios."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.cases import Case
from benchmarks.runner import Measured

__all__ = ["case_results", "draw_chart", "print_table", "write_json"]


#: What an instruction goal is on, as the table says it.
_GOAL_ON = {"server": "server", "client": "client", "call": "whole call"}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def case_results(case: Case, measured: list[Measured]) -> dict[str, Any]:
    """A case's figures per side, and each goal's same-run ratio (median, min, max)."""
    by_label = {each.side.label: each for each in measured}
    sides: list[dict[str, Any]] = [
        {
            "side": each.side.label,
            "rate_median": statistics.median(each.rates),
            "rate_min": min(each.rates),
            "rate_max": max(each.rates),
            "p50_ms": _percentile(each.latencies_ms, 0.50),
            "p99_ms": _percentile(each.latencies_ms, 0.99),
            "server_cpu_s_per_1000": statistics.median(each.cpu_per_1000),
            "failed": each.failed,
            "rates": each.rates,
        }
        for each in measured
    ]
    goals = []
    for goal in case.goals:
        top, bottom = by_label[goal.numerator].rates, by_label[goal.denominator].rates
        failed = by_label[goal.numerator].failed
        ratios = [a / b for a, b in zip(top, bottom, strict=True)]
        median = statistics.median(ratios)
        goals.append(
            {
                "ratio": f"{goal.numerator} / {goal.denominator}",
                "median": median,
                "min": min(ratios),
                "max": max(ratios),
                "goal": goal.minimum,
                # A side whose calls failed has not served the load it was given.
                "failed": failed,
                "met": median >= goal.minimum and not failed,
            }
        )
    if case.cpu_bar is not None:
        bar = statistics.median(by_label[case.cpu_bar].cpu_per_1000)
        for side in sides:
            side["cpu_vs_bar"] = side["server_cpu_s_per_1000"] / bar if bar else float("nan")
    return {"case": case.name, "unit": case.unit, "sides": sides, "goals": goals}


def print_table(
    results: list[dict[str, Any]],
    imports: list[dict[str, Any]] | None,
    counted: list[dict[str, Any]] | None = None,
) -> None:
    header = (
        f"{'side':<46} {'rate/s median':>14} {'(min-max)':>19} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv CPU s/1k msg':>17} {'failed':>6}"
    )
    for result in results:
        print(f"\n## {result['case']} ({result['unit']}/s)")
        print(header)
        for side in result["sides"]:
            spread = f"({side['rate_min']:,.0f}-{side['rate_max']:,.0f})"
            print(
                f"{side['side']:<46} {side['rate_median']:>14,.0f} {spread:>19} "
                f"{side['p50_ms']:>8.2f} {side['p99_ms']:>8.2f} "
                f"{side['server_cpu_s_per_1000']:>17.3f} {side['failed']:>6}"
            )
        bar = [side for side in result["sides"] if "cpu_vs_bar" in side]
        if bar:
            shares = ", ".join(f"{side['side']} {side['cpu_vs_bar']:.2f}" for side in bar)
            print(f"  server CPU per message, relative (goal: greeter <= 1.00): {shares}")
        for goal in result["goals"]:
            verdict = "met" if goal["met"] else "MISSED"
            print(
                f"  ratio {goal['ratio']}: {goal['median']:.2f} "
                f"({goal['min']:.2f}-{goal['max']:.2f}), goal >= {goal['goal']:.2f}: {verdict}"
            )
    if imports is not None:
        print("\n## import time (ms, fresh interpreter, median of rounds)")
        for pair in imports:
            verdict = "met" if pair["added_ms"] <= pair["budget_ms"] else "MISSED"
            print(
                f"{pair['greeter']}: {pair['greeter_ms']:.1f}; {pair['other']}: "
                f"{pair['other_ms']:.1f}\n  added {pair['added_ms']:+.1f} "
                f"({pair['added_min_ms']:+.1f} to {pair['added_max_ms']:+.1f}); best runs "
                f"{pair['added_best_ms']:+.1f}; goal <= +{pair['budget_ms']:.0f}: {verdict}"
            )

    if counted:
        _print_counted(counted)


def _print_counted(counted: list[dict[str, Any]]) -> None:
    print("\n## instructions per message (valgrind; median of counts)")
    print(f"{'side':<46} {'server':>12} {'client':>12} {'whole call':>12}")
    for case in counted:
        low, high = case["calls"]
        print(f"{case['case']} (runs of {low} and {high} calls):")
        for key in ("greeter", "other"):
            print(
                f"  {case[key]:<44} {case[f'{key}_server']:>12,.0f} "
                f"{case[f'{key}_client']:>12,.0f} {case[f'{key}_call']:>12,.0f}"
            )
        print(
            f"  ratios {case['greeter']} / {case['other']}: server {case['server_ratio']:.3f}, "
            f"client {case['client_ratio']:.3f}, whole call {case['call_ratio']:.3f}"
        )
        verdict = "met" if case["met"] else "MISSED"
        where = _GOAL_ON[case["goal_on"]]
        print(f"  goal: {where} ratio <= {case['maximum']:.3f}: {verdict}")


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n")


def _counted_as_speed(counted: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Instruction goals drawn like the timed ones, higher is better: the other side's
    instructions over greeter's (1.01: greeter does 1 % less work), against 1/maximum."""
    drawn = []
    for case in counted:
        speed = 1 / case["ratio"]
        where = _GOAL_ON[case["goal_on"]]
        drawn.append(
            (
                f"instructions: {case['case']}",
                {
                    "ratio": f"{case['other']} / {case['greeter']} ({where}, inverse)",
                    "median": speed,
                    "min": speed,
                    "max": speed,
                    "goal": 1 / case["maximum"],
                    "met": case["met"],
                },
            )
        )
    return drawn


def draw_chart(
    path: Path, results: list[dict[str, Any]], counted: list[dict[str, Any]] | None = None
) -> bool:
    """A bar per goal: the median same-run ratio, its range, and the goal; instruction
    counts as ``_counted_as_speed`` draws them. False without matplotlib
    (``pip install 'grpc-greeter[bench]'``)."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # the bench extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    goals = [(result["case"], goal) for result in results for goal in result["goals"]]
    goals += _counted_as_speed(counted or [])
    labels = [f"{case}\n{goal['ratio']}" for case, goal in goals]
    medians = [goal["median"] for _, goal in goals]
    errors = [
        [goal["median"] - goal["min"] for _, goal in goals],
        [goal["max"] - goal["median"] for _, goal in goals],
    ]
    figure, axes = plt.subplots(figsize=(10, 0.75 * len(goals) + 1.5))
    positions = list(range(len(goals)))
    colours = ["tab:green" if goal["met"] else "tab:red" for _, goal in goals]
    axes.barh(positions, medians, xerr=errors, color=colours, alpha=0.8, capsize=3)
    axes.scatter(
        [goal["goal"] for _, goal in goals],
        positions,
        marker="D",
        s=36,
        color="tab:blue",
        label="goal",
        zorder=3,
    )
    axes.axvline(1.0, color="grey", linewidth=0.8)
    axes.set_yticks(positions, labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel(
        "same-run ratio (median of rounds; bars: min-max); instruction counts inverted, "
        "so that higher is better throughout"
    )
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return True
