"""Shared by the benchmarks that time a ppbench step against the plain definition it is pinned to, in one process:
record each median, and print definition / ppbench per step after the module (``-s``). Nothing asserts on time."""

from __future__ import annotations

from typing import Callable


def time_version(benchmark, medians: dict[tuple[str, str], float], step: str, version: str,
                 ours: Callable[[], object], definition: Callable[[], object], rounds: int) -> None:
    """Time ``ours`` (version "ppbench") or ``definition`` under pytest-benchmark and keep the median."""
    benchmark.pedantic(ours if version == "ppbench" else definition, rounds=rounds, warmup_rounds=1)
    medians[(step, version)] = benchmark.stats.stats.median


def print_ratios(medians: dict[tuple[str, str], float], steps: tuple[str, ...]) -> None:
    """One line per step timed both ways: the two medians and how many times faster ppbench's is."""
    for step in steps:
        if (step, "ppbench") in medians and (step, "definition") in medians:
            ours, theirs = medians[(step, "ppbench")], medians[(step, "definition")]
            print(f"\n{step}: ppbench {ours * 1e3:.1f} ms, definition {theirs * 1e3:.1f} ms, {theirs / ours:.1f} x")
