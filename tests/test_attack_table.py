"""``attacks.md`` / ``attacks.csv``: one row per record and attack, with the per-image evidence and how long a
learned attack trained, written by ``ppbench report`` beside Table I."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ppbench.reports.attack_table import COLUMNS, attack_table, write_attack_table
from ppbench.reports.load import load_results
from ppbench.reports.render import render


def test_every_attack_entry_with_numbers_is_one_row_in_the_papers_order(records):
    table = attack_table(records)
    frame = records.attacks_frame()
    assert len(table) == int((frame["status"] == "ok").sum())
    assert list(table.columns) == list(COLUMNS)
    assert list(dict.fromkeys(table["scheme"])) == ["le", "proposed"]  # Table I's order
    le = table[table["scheme"] == "le"]
    assert list(le["attack"]) == ["fr", "gan", "itn"]  # the paper's Fig. 4 order


def test_a_learned_attacks_training_shows_in_its_row(results_copy):
    record_file = next(results_copy.glob("le-none*/result.json"))
    record = json.loads(record_file.read_text())
    record["metrics"]["attacks"]["gan"].update(epochs_run=25, best_epoch=15, stopped="converged", steps_run=875, original_steps=19_600, reduced=False)
    record_file.write_text(json.dumps(record))
    table = attack_table(load_results(results_copy))
    row = table[(table["scheme"] == "le") & (table["attack"] == "gan")].iloc[0]
    assert (row["epochs_run"], row["steps_run"], row["stopped"], row["reduced"]) == (25, 875, "converged", False)


def test_report_writes_the_table_as_markdown_and_csv_and_links_it(results_copy, tmp_path):
    rendered = render(results_copy, tmp_path / "report")
    md, csv = tmp_path / "report" / "attacks.md", tmp_path / "report" / "attacks.csv"
    assert [md, csv] == rendered.attacks and md.exists() and csv.exists()
    assert "[attacks.md](attacks.md)" in (tmp_path / "report" / "report.md").read_text()
    numbers = pd.read_csv(csv)
    assert list(numbers.columns) == list(COLUMNS) and len(numbers) == len(attack_table(load_results(results_copy)))
    header = md.read_text().splitlines()[4]
    assert all(title in header for title in COLUMNS.values())


@pytest.mark.parametrize("value, column, shown", [(0.5, "ssim_mean", "0.500"), (1.0, "ssim_best", "1.000"),
                                                  (875.0, "steps_run", "875"), (True, "reduced", "yes")])
def test_cells_keep_the_columns_format(value, column, shown):
    from ppbench.reports.attack_table import _cell

    assert _cell(column, value) == shown


def test_an_empty_results_table_still_renders(records, tmp_path):
    from dataclasses import replace

    paths = write_attack_table(replace(records, runs=[]), tmp_path, "nothing")
    assert "No attack results." in paths[0].read_text()
    assert pd.read_csv(paths[1]).empty
