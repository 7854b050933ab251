"""Learned attacks trained until they stop improving: the early-stopping helper, the ITN and GAN training lengths
per profile, what the GAN validates on (never a victim plaintext), the record's fields and Table I's mark."""

from __future__ import annotations

import json
import math

import pytest
import torch

import ppbench.attacks.gan as gan_module
from ppbench.attacks import Attack, KeySource, ThreatModelError, build_view, create_attack
from ppbench.attacks.stopping import EarlyStopping, summarise
from ppbench.errors import InputError
from ppbench.reports.load import load_results
from ppbench.reports.table1 import build_table1, render_csv, render_markdown
from ppbench.schemes import create_scheme, generate_key

LE_ATTACKS = "le-none-sample-cpu-s0-0c1d2e3f"
FIELDS = {"epochs_run", "best_epoch", "stopped", "steps_run", "original_steps", "reduced"}


def run(stopper: EarlyStopping, values: list[float]) -> list[int]:
    """Feed ``values`` epoch by epoch (the state kept is the epoch's name); the epochs that ran."""
    ran = []
    for epoch in stopper.epochs():
        ran.append(epoch)
        stopper.update(values[epoch - 1], lambda e=epoch: f"state {e}")
    return ran


# -- the helper ------------------------------------------------------------------------------------------------
class TestEarlyStopping:
    def test_stops_after_patience_epochs_without_improvement_and_keeps_the_best_state(self):
        stopper = EarlyStopping(max_epochs=50, patience=3)
        assert run(stopper, [3.0, 2.0, 1.0, 1.5, 1.2, 1.1, 0.1]) == [1, 2, 3, 4, 5, 6]
        assert (stopper.stopped, stopper.best_epoch, stopper.best_state, stopper.best) == ("converged", 3, "state 3", 1.0)

    def test_stops_at_the_cap_while_still_improving(self):
        stopper = EarlyStopping(max_epochs=5, patience=3)
        assert run(stopper, [5.0, 4.0, 3.0, 2.0, 1.0, 0.5]) == [1, 2, 3, 4, 5]
        assert (stopper.stopped, stopper.epochs_run, stopper.best_epoch, stopper.best_state) == ("cap", 5, 5, "state 5")

    def test_patience_running_out_at_the_cap_counts_as_converged(self):
        stopper = EarlyStopping(max_epochs=3, patience=2)
        run(stopper, [1.0, 2.0, 2.0])
        assert (stopper.stopped, stopper.best_epoch) == ("converged", 1)

    def test_fixed_runs_exactly_max_epochs_whatever_the_measure(self):
        stopper = EarlyStopping(max_epochs=4, patience=None)
        assert run(stopper, [1.0, 2.0, 3.0, 4.0]) == [1, 2, 3, 4]
        assert (stopper.stopped, stopper.best_epoch) == ("fixed", 1)

    def test_gains_below_min_delta_do_not_reset_patience_but_the_lowest_state_is_kept(self):
        stopper = EarlyStopping(max_epochs=50, patience=3, min_delta=0.01)
        assert run(stopper, [1.0, 0.999, 0.998, 0.997, 0.5]) == [1, 2, 3, 4]
        assert (stopper.stopped, stopper.best_epoch) == ("converged", 4)

    def test_ties_keep_the_later_epoch_and_nan_is_never_best(self):
        stopper = EarlyStopping(max_epochs=4, patience=None)
        run(stopper, [1.0, 1.0, math.nan, 2.0])
        assert stopper.best_epoch == 2

    def test_a_constant_measure_converges_rather_than_running_to_the_cap(self):
        stopper = EarlyStopping(max_epochs=100, patience=5)
        run(stopper, [0.3] * 100)
        assert (stopper.stopped, stopper.epochs_run) == ("converged", 6)

    def test_patience_cannot_stop_before_min_epochs(self):
        stopper = EarlyStopping(max_epochs=20, patience=2, min_epochs=8)
        run(stopper, [1.0] + [2.0] * 19)
        assert (stopper.stopped, stopper.epochs_run) == ("converged", 8)

    def test_without_validation_the_last_state_is_kept(self):
        stopper = EarlyStopping(max_epochs=3)
        for epoch in stopper.epochs():
            stopper.update(None, lambda e=epoch: e)
        assert (stopper.stopped, stopper.best_epoch, stopper.best_state) == ("fixed", 3, 3)

    def test_an_epoch_without_update_is_an_error(self):
        with pytest.raises(RuntimeError, match="update was not called"):
            for _ in EarlyStopping(max_epochs=3).epochs():
                pass

    @pytest.mark.parametrize("kwargs", [{"max_epochs": 0}, {"max_epochs": 3, "patience": 0},
                                        {"max_epochs": 3, "min_delta": -1.0}])
    def test_bad_settings_are_refused(self, kwargs):
        with pytest.raises(ValueError):
            EarlyStopping(**kwargs)

    @pytest.mark.parametrize("stopped, steps, reduced", [("converged", 10, False), ("cap", 10, True),
                                                         ("fixed", 10, True), ("cap", 100, False)])
    def test_reduced_means_a_budget_stopped_it_short_of_the_originals_steps(self, stopped, steps, reduced):
        stopper = EarlyStopping(max_epochs=5)
        stopper.epochs_run, stopper.best_epoch, stopper.stopped = 5, 5, stopped
        fields = summarise(stopper, steps_run=steps, original_steps=100)
        assert set(fields) == FIELDS and fields["reduced"] is reduced and fields["steps_run"] == steps


# -- the attacks -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (80, 3, 32, 32), dtype=torch.uint8, generator=g)
    victim = create_scheme("le", key=generate_key("le", image_size=32, block_size=4), block_size=4)
    return {"victim_train": images[:40], "public": images[40:], "victim": victim}


def fit(name: str, data, profile: str, **overrides) -> tuple[Attack, object]:
    torch.manual_seed(0)
    attack = create_attack(name, scheme_name="le", image_size=32, block_size=4, profile=profile, **overrides)
    view = build_view(attack.threat_model, scheme=data["victim"], victim_train=data["victim_train"],
                      public_images=data["public"], generator=torch.Generator().manual_seed(0),
                      key_source=KeySource(b"\x07" * 32))
    return attack.fit(view), view


class TestAttacks:
    @pytest.mark.parametrize("name", ["gan", "itn", "itn_unet"])
    def test_smoke_trains_exactly_its_fixed_epochs(self, name, data):
        attack, _ = fit(name, data, "smoke")
        summary = attack.training_summary()
        assert summary["stopped"] == "fixed" and summary["epochs_run"] == attack.config["epochs"] == 1
        assert [row["epoch"] for row in attack.history] == [1]
        assert summary["reduced"] is True, "one epoch is far below the original's steps"

    @pytest.mark.parametrize("name, original", [("gan", 19_600), ("itn", 17_600), ("itn_unet", 70_400)])
    def test_cpu_and_paper_stop_on_patience_with_caps_at_least_the_old_fixed_lengths(self, name, original):
        cls = type(create_attack(name, scheme_name="le", image_size=32, block_size=4, profile="smoke"))
        cpu, paper = cls.default_configs["cpu"], cls.default_configs["paper"]
        assert cls.original_steps == original
        assert cpu["patience"] and paper["patience"] and cls.default_configs["smoke"]["patience"] is None
        assert cpu["epochs"] == 4 * {"gan": 25, "itn": 30, "itn_unet": 20}[name], "cap: 4 x the former fixed epochs"
        # the paper cap reaches the original's steps on the paper profile's data: 25,000 images per side, 10 % held out
        assert paper["epochs"] * (22_500 // paper["batch_size"]) >= original

    def test_cpu_itn_with_a_tiny_cap_records_how_it_stopped(self, data):
        attack, _ = fit("itn", data, "cpu", epochs=3, batch_size=8)
        summary = attack.training_summary()
        assert set(summary) == FIELDS and summary["epochs_run"] <= 3 == len(attack.history)
        assert summary["stopped"] in ("cap", "converged") and summary["original_steps"] == 17_600
        assert summary["steps_run"] == summary["epochs_run"] * (36 // 8)
        losses = [row["val_loss"] for row in attack.history]
        assert losses[summary["best_epoch"] - 1] == min(losses)
        assert summary["reduced"] is (summary["stopped"] == "cap")

    def test_cpu_itn_stops_when_patience_runs_out(self, data):
        attack, _ = fit("itn", data, "cpu", epochs=40, patience=1, min_delta=10.0, batch_size=8)
        summary = attack.training_summary()  # epoch 1 improves on nothing; epoch 2 cannot gain 10: patience 1 ran out
        assert (summary["stopped"], summary["epochs_run"], summary["reduced"]) == ("converged", 2, False)

    def test_cpu_gan_validates_on_held_out_data_and_keeps_the_best_generator(self, data):
        attack, view = fit("gan", data, "cpu", epochs=3, batch_size=8)
        summary = attack.training_summary()
        assert set(summary) == FIELDS and summary["epochs_run"] <= 3
        distances = [row["val_distance"] for row in attack.history]
        assert all(math.isfinite(d) for d in distances) and distances[summary["best_epoch"] - 1] == min(distances)
        assert summary["steps_run"] == summary["epochs_run"] * (36 // 8), "4 of 40 ciphertexts held out"
        best = attack.generator.state_dict()
        again, _ = fit("gan", data, "cpu", epochs=summary["best_epoch"], patience=None, batch_size=8)
        assert all(torch.equal(best[k], v) for k, v in again.generator.state_dict().items()), "the best epoch's generator"

    def test_gan_validation_sees_only_ciphertexts_and_the_attackers_images(self, data, monkeypatch):
        seen: list[torch.Tensor] = []
        real = gan_module.image_statistics
        monkeypatch.setattr(gan_module, "image_statistics", lambda x, w: (seen.append(x.detach().clone()), real(x, w))[1])
        attack, view = fit("gan", data, "cpu", epochs=2, batch_size=8)
        with pytest.raises(ThreatModelError):
            view.victim_plaintexts  # the threat model grants no victim plaintexts at all
        as_uint8 = [torch.round((x + 1) * 127.5).to(torch.uint8) for x in seen]
        inputs = torch.cat(as_uint8)
        victim_plain = {bytes(x.flatten().tolist()) for x in data["victim_train"]}
        public = {bytes(x.flatten().tolist()) for x in data["public"]}
        assert not any(bytes(x.flatten().tolist()) in victim_plain for x in inputs)
        assert sum(bytes(x.flatten().tolist()) in public for x in inputs) == 4, "the held-out 10 % of the attacker's 40"

    def test_gan_patience_without_a_hold_out_is_refused(self, data):
        with pytest.raises(InputError, match="val_fraction"):
            fit("gan", data, "cpu", val_fraction=0.0)

    def test_checkpoint_carries_the_training_summary(self, data, tmp_path):
        attack, _ = fit("itn", data, "cpu", epochs=2, batch_size=8)
        loaded = Attack.load(attack.save(tmp_path / "itn.pt"))
        assert loaded.training_summary() == attack.training_summary()


# -- Table I ---------------------------------------------------------------------------------------------------
def _edit(run_dir, attack: str, **fields) -> None:
    path = run_dir / "result.json"
    record = json.loads(path.read_text())
    record["metrics"]["attacks"][attack].update(fields)
    path.write_text(json.dumps(record))


def test_table1_marks_a_verdict_resting_on_a_reduced_attack(results_copy):
    _edit(results_copy / LE_ATTACKS, "itn", stopped="cap", epochs_run=120, best_epoch=120, steps_run=840,
          original_steps=17_600, reduced=True)
    table = build_table1(load_results(results_copy))
    (le,) = [r for r in table.rows if r.scheme == "le"]
    assert le.strongest.attack == "itn" and le.strongest.reduced is True
    md = render_markdown(table, [])
    row = next(line for line in md.splitlines() if line.startswith("| le "))
    assert "| itn (reduced attack) |" in row and "itn 0.613 (reduced attack) |" in row
    assert "reduced attack: the verdict for le (profile cpu) rests on itn" in md
    header, le_csv = [line for line in render_csv(table).splitlines() if line.startswith(("scheme,", "le,"))]
    columns = dict(zip(header.split(","), le_csv.split(",")))
    assert columns["strongest_attack_reduced"] == "True" and columns["paper_attacks_reduced"] == "True"


def test_table1_without_the_field_or_with_reduced_false_has_no_mark(results_copy):
    before = render_markdown(build_table1(load_results(results_copy)), [])
    assert "reduced" not in before and "reduced" not in render_csv(build_table1(load_results(results_copy)))
    _edit(results_copy / LE_ATTACKS, "itn", stopped="converged", reduced=False)
    table = build_table1(load_results(results_copy))
    assert render_markdown(table, []) == before
    assert "strongest_attack_reduced" in render_csv(table).splitlines()[0]
