"""Plugins: third-party schemes and attacks from entry points, ``--plugin`` and ``PPBENCH_PLUGINS``.

The example package (examples/ppbench-example-plugin: schemes ``pixperm`` and ``rowshift``, attack
``mean_image``) is installed with pip, as a user would, but into a folder of its own (``pip install
--target``) rather than into the venv: installed into the venv it would stay registered in every later
process, and other tests that list every registered scheme would meet it. Commands run as subprocesses
with that folder on ``PYTHONPATH``, so ppbench finds the package by its entry points exactly as if it
were in site-packages. In-process tests remove every registry entry and module they add.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ppbench import plugins
from ppbench.cli import main
from ppbench.attacks import ATTACKS, NotApplicableError, attack_class, create_attack, list_attacks
from ppbench.registry import BUILTIN, NameClashError, Registry, registering_from
from ppbench.schemes import SCHEMES, create_scheme, generate_key, list_schemes, scheme_info

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ppbench-example-plugin"
DIST = "ppbench-example-plugin"
PLUGIN_SCHEMES = ("pixperm", "rowshift")


# -- fixtures and helpers ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def example_site(tmp_path_factory) -> Path:
    """The example package installed by pip into a folder of its own (offline: no deps, no build isolation)."""
    root = tmp_path_factory.mktemp("example-plugin")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True, capture_output=True, text=True)
    assert (site / "ppbench_example" / "schemes.py").is_file()
    return site


def cli_env(*paths: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``ppbench`` subprocess: ``paths`` on PYTHONPATH, no inherited plugin settings."""
    env = {k: v for k, v in os.environ.items() if k not in (plugins.ENV_VAR, plugins.DISABLE_ENV_VAR)}
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["MPLBACKEND"] = "Agg"
    env.update(extra)
    return env


def ppbench(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ppbench", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def listed(stdout: str) -> dict[str, str]:
    """``ppbench list`` output -> {name: origin}."""
    return {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line.strip()}


@pytest.fixture()
def clean_registries(monkeypatch):
    """A process as if new to plugins (no plugin tried yet, registries to load them on first use); afterwards
    remove the registry entries and modules the test added, and the environment it set."""
    schemes, attacks, modules = set(SCHEMES.names()), set(ATTACKS.names()), set(sys.modules)
    monkeypatch.setattr(plugins, "_LOADS", {})
    monkeypatch.setenv(plugins.ENV_VAR, "")  # restored afterwards, also when `ppbench --plugin` sets it
    monkeypatch.delenv(plugins.DISABLE_ENV_VAR, raising=False)
    for registry in (SCHEMES, ATTACKS):
        registry.set_loader(plugins.autoload)
    yield
    for registry in (SCHEMES, ATTACKS):
        registry.set_loader(plugins.autoload)
    for registry, before in ((SCHEMES, schemes), (ATTACKS, attacks)):
        for name in set(registry.names()) - before:
            registry.unregister(name)
    kept = tuple(str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, REPO))
    for name in set(sys.modules) - modules:  # the plugin modules this test imported from its folders
        file = getattr(sys.modules[name], "__file__", None)
        if file and not str(Path(file).resolve()).startswith(kept):
            del sys.modules[name]
    importlib.invalidate_caches()


def write_module(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


SCHEME_MODULE = textwrap.dedent('''
    from ppbench.schemes import Scheme, SchemeInfo, register_scheme


    @register_scheme
    class Flip(Scheme):
        """Negates every value (a table scheme without key: the mask alone)."""

        info = SchemeInfo(name="{name}", family="test", title="negate every value", paper="", version=1,
                          key_space="1", block_wise=False, default_image_size=32, default_block_size=None)

        def build_tables(self, material):
            import numpy as np
            return np.arange(self.flat_size), np.full(self.flat_size, 255, np.uint8)
    ''')


# -- the registry ----------------------------------------------------------------------------------------------
def test_registry_keeps_its_api_and_records_origins():
    registry: Registry[object] = Registry("thing")

    class A:
        pass

    assert registry.register("A", A) is A and registry.register("a", A) is A  # same object again: a no-op
    with pytest.raises(ValueError, match="already registered"):  # NameClashError is a ValueError, as before
        registry.register("a", object)
    assert registry.names() == ["a"] and "A" in registry and len(registry) == 1
    assert registry.origin("a") == __name__  # not ppbench's own and no plugin loading: the object's module
    with registering_from("some-dist") as added:
        registry.register("b", type("B", (), {}))
    assert registry.origin("b") == "some-dist" and added == [(registry, "b")]
    assert registry.unregister("b") is not None and "b" not in registry
    assert SCHEMES.origin("pe") == BUILTIN and ATTACKS.origin("kpa") == BUILTIN


def test_registry_loader_runs_once_on_first_listing_or_miss():
    calls = []
    registry: Registry[int] = Registry("thing", loader=lambda: calls.append(registry.register("late", 1)))
    registry.register("early", 0)
    assert registry.get("early") == 0 and calls == []  # a hit does not load
    assert registry.get("late") == 1 and len(calls) == 1  # a miss loads, then finds
    assert registry.names() == ["early", "late"] and len(calls) == 1


def test_name_clash_error_names_the_existing_origin():
    class PE2:
        pass

    with pytest.raises(NameClashError, match=r"scheme 'pe' is already registered .*from builtin"):
        SCHEMES.register("pe", PE2)


# -- loading in-process ---------------------------------------------------------------------------------------
def test_entry_points_register_plugin_schemes_and_attacks_with_their_distribution(example_site, monkeypatch,
                                                                                clean_registries):
    monkeypatch.syspath_prepend(str(example_site))
    loads = plugins.load_plugins()
    assert {(load.origin, load.ok) for load in loads} == {(DIST, True)}
    assert {r for load in loads for r in load.registered} == {"scheme pixperm", "scheme rowshift", "attack mean_image"}
    assert set(PLUGIN_SCHEMES) <= set(list_schemes()) and "mean_image" in list_attacks()
    assert SCHEMES.origin("pixperm") == DIST and ATTACKS.origin("mean_image") == DIST
    assert plugins.load_plugins() == loads  # idempotent: the same outcomes, nothing loaded twice


@pytest.mark.parametrize("name", PLUGIN_SCHEMES)
def test_plugin_schemes_round_trip_through_ppbench(name, example_site, monkeypatch, clean_registries, real_images):
    monkeypatch.syspath_prepend(str(example_site))
    plugins.load_plugins()
    key = generate_key(name, image_size=32)
    scheme = create_scheme(name, key=key)
    x = torch.from_numpy(real_images[:8]).permute(0, 3, 1, 2).contiguous()
    y = scheme.encrypt(x)
    assert y.dtype == torch.uint8 and y.shape == x.shape and not torch.equal(y, x)
    assert torch.equal(scheme.decrypt(y), x)
    again = create_scheme(name, key_material=scheme.key_material())  # the key material rebuilds the same scheme
    assert torch.equal(again.encrypt(x), y) and scheme.key_space_bits() > 0


def test_pixperm_follows_its_definition(example_site, monkeypatch, clean_registries, real_images):
    monkeypatch.syspath_prepend(str(example_site))
    plugins.load_plugins()
    scheme = create_scheme("pixperm", key=generate_key("pixperm", image_size=32))
    k = scheme.key_material()
    x = real_images[:4].reshape(4, 32 * 32, 3)  # N x pixel x channel
    expected = x[:, k["pixel_perm"], :]  # output pixel i = plain pixel pixel_perm[i]
    expected = np.take_along_axis(expected, k["channel_perm"][None].repeat(4, 0), axis=2)  # channel order per pixel
    expected = np.where(k["negate"][None], 255 - expected, expected)  # negation per output value
    got = scheme.encrypt(torch.from_numpy(real_images[:4]).permute(0, 3, 1, 2).contiguous())
    assert np.array_equal(got.permute(0, 2, 3, 1).numpy().reshape(4, -1, 3), expected)


def test_rowshift_shifts_each_row_by_its_key(example_site, monkeypatch, clean_registries, real_images):
    monkeypatch.syspath_prepend(str(example_site))
    plugins.load_plugins()
    scheme = create_scheme("rowshift", key=generate_key("rowshift", image_size=32))
    shifts = scheme.key_material()["shifts"]
    got = scheme.encrypt(torch.from_numpy(real_images[:2]).permute(0, 3, 1, 2).contiguous()).permute(0, 2, 3, 1).numpy()
    for r, s in enumerate(shifts):
        assert np.array_equal(got[:, r], np.roll(real_images[:2, r], int(s), axis=1))


def test_structure_attacks_are_not_applicable_to_a_plugin_scheme(example_site, monkeypatch, clean_registries):
    monkeypatch.syspath_prepend(str(example_site))
    plugins.load_plugins()
    info = scheme_info("pixperm")
    for name in ("kpa", "pooled"):
        reason = attack_class(name).applicable(info)
        assert reason and "structure" in reason
        with pytest.raises(NotApplicableError, match=f"attack '{name}' does not apply to scheme 'pixperm'"):
            create_attack(name, scheme_name="pixperm", image_size=32)
    assert attack_class("fr").applicable(info) is None and attack_class("kpa").applicable(scheme_info("pe")) is None


def test_evaluator_records_not_applicable_instead_of_crashing(example_site, monkeypatch, clean_registries, tmp_path,
                                                               cifar_subset):
    from ppbench.attack_eval import evaluate_attacks, stale_fields

    monkeypatch.syspath_prepend(str(example_site))
    plugins.load_plugins()
    scheme = create_scheme("rowshift", key=generate_key("rowshift", image_size=32))
    images = torch.from_numpy(cifar_subset["x_train"][:24]).permute(0, 3, 1, 2).contiguous()
    out = evaluate_attacks(["fr", "kpa"], scheme=scheme, train_images=images[:16], test_images=images[16:],
                           image_size=32, profile="smoke", n_images=4, out_dir=tmp_path, device="cpu", seed=0)
    kpa = out["attacks"]["kpa"]
    assert kpa["status"] == "not_applicable" and "structure" in kpa["reason"] and "ssim_mean" not in kpa
    assert kpa["threat_model"] == "known_plaintext" and stale_fields("kpa", kpa) == []
    assert 0 <= out["attacks"]["fr"]["ssim_mean"] < 0.5 and "status" not in out["attacks"]["fr"]


def test_broken_plugins_warn_once_each_and_leave_nothing_behind(tmp_path, monkeypatch, clean_registries, caplog):
    write_module(tmp_path, "halfway_plugin", SCHEME_MODULE.format(name="halfway") + "\nraise RuntimeError('boom')\n")
    write_module(tmp_path, "clashing_plugin", SCHEME_MODULE.format(name="pe"))
    write_module(tmp_path, "helpers_plugin", "def helper():\n    pass\n\nclass NotAScheme:\n    pass\n")
    dist = tmp_path / "broken_dist-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[ppbench.schemes]\nmissing = ppbench_no_such_module\nnoattr = helpers_plugin:Nope\n"
        "function = helpers_plugin:helper\nwrongbase = helpers_plugin:NotAScheme\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = list_schemes()
    with caplog.at_level(logging.WARNING, logger="ppbench.plugins"):
        loads = plugins.load_plugins(["halfway_plugin", str(tmp_path / "clashing_plugin.py"), "ppbench_nowhere"])
        plugins.load_plugins(["halfway_plugin", str(tmp_path / "clashing_plugin.py"), "ppbench_nowhere"])
    failed = {load.name: load.error for load in loads if not load.ok}
    assert len(failed) == 7 and not [load for load in loads if load.ok]
    assert "RuntimeError" in failed["halfway_plugin"] and "boom" in failed["halfway_plugin"]
    assert "'pe' is already registered" in failed[str(tmp_path / "clashing_plugin.py")]
    assert "No module named 'ppbench_nowhere'" in failed["ppbench_nowhere"]
    assert "No module named 'ppbench_no_such_module'" in failed["missing = ppbench_no_such_module"]
    assert "has no attribute 'Nope'" in failed["noattr = helpers_plugin:Nope"]
    assert "not a module or a subclass of ppbench.schemes.Scheme" in failed["function = helpers_plugin:helper"]
    assert "class helpers_plugin.NotAScheme" in failed["wrongbase = helpers_plugin:NotAScheme"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 7 and all("\n" not in w and w.startswith("ppbench: plugin ") for w in warnings)
    assert sum("'broken-dist'" in w for w in warnings) == 4 and sum("halfway_plugin" in w for w in warnings) == 1
    assert list_schemes() == before and "halfway" not in SCHEMES  # the half-registered scheme was removed
    assert SCHEMES.origin("pe") == BUILTIN


def test_a_plugin_that_lists_registries_while_importing_loads_once(tmp_path, monkeypatch, clean_registries):
    write_module(tmp_path, "listing_plugin", SCHEME_MODULE.format(name="listing")
                 + "\nfrom ppbench.attacks import list_attacks\nATTACKS_SEEN = list_attacks()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(plugins.ENV_VAR, "listing_plugin")
    assert "listing" in list_schemes() and SCHEMES.origin("listing") == "listing_plugin"
    assert [(load.name, load.registered) for load in plugins.loaded_plugins()] == [("listing_plugin", ("scheme listing",))]
    assert "kpa" in sys.modules["listing_plugin"].ATTACKS_SEEN


# -- the command line ------------------------------------------------------------------------------------------
def test_list_shows_plugin_entries_with_their_origin(example_site, monkeypatch, clean_registries, capsys):
    monkeypatch.syspath_prepend(str(example_site))
    assert main(["list", "schemes"]) == 0
    origins = listed(capsys.readouterr().out)
    assert {origins[n] for n in PLUGIN_SCHEMES} == {DIST} and origins["proposed"] == BUILTIN
    assert main(["list", "attacks"]) == 0
    origins = listed(capsys.readouterr().out)
    assert origins["mean_image"] == DIST and origins["fr"] == BUILTIN


def test_autoload_can_be_switched_off_while_explicit_plugins_still_load(example_site, monkeypatch, clean_registries,
                                                                         capsys):
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "1")
    assert main(["list", "attacks"]) == 0 and "mean_image" not in listed(capsys.readouterr().out)
    assert main(["--plugin", "ppbench_example.schemes", "list", "schemes"]) == 0
    origins = listed(capsys.readouterr().out)
    assert origins["pixperm"] == "ppbench_example.schemes" and origins["rowshift"] == "ppbench_example.schemes"


def test_plugin_option_and_environment_variable_load_modules_from_a_folder(tmp_path, monkeypatch, clean_registries,
                                                                           capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    write_module(folder, "my_flip_plugin", SCHEME_MODULE.format(name="myflip"))
    write_module(folder, "my_file_plugin", SCHEME_MODULE.format(name="myfile"))
    monkeypatch.syspath_prepend(str(folder))
    assert main(["--plugin", "my_flip_plugin", "--plugin", str(folder / "my_file_plugin.py"), "list", "schemes", "my*"]) == 0
    assert listed(capsys.readouterr().out) == {"myflip": "my_flip_plugin", "myfile": "my_file_plugin.py"}
    # --plugin modules travel to child processes (sweeps, DDP workers) in PPBENCH_PLUGINS
    assert plugins.env_modules() == ["my_flip_plugin", str(folder / "my_file_plugin.py")]
    library = subprocess.run([sys.executable, "-c", "from ppbench.schemes import create_scheme; "
                              "print(create_scheme('myflip').info.title)"],
                             env=cli_env(folder, **{plugins.ENV_VAR: f"nothing_here{os.pathsep} my_flip_plugin"}),
                             capture_output=True, text=True)
    assert library.stdout.strip() == "negate every value", library.stderr  # library use reads PPBENCH_PLUGINS too
    assert library.stderr.count("ppbench: plugin 'nothing_here' (PPBENCH_PLUGINS) not loaded: No module named") == 1


def test_a_broken_plugin_warns_once_and_list_still_works(tmp_path):
    write_module(tmp_path, "exploding_plugin", "raise ImportError('needs a library that is not installed')\n")
    out = ppbench("--plugin", "exploding_plugin", "list", "schemes", env=cli_env(tmp_path))
    assert out.returncode == 0 and "proposed" in listed(out.stdout)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines == ["ppbench: plugin 'exploding_plugin' (--plugin) not loaded: ImportError while loading it "
                     "(exploding_plugin.py:1): needs a library that is not installed"]


@pytest.mark.parametrize("name", PLUGIN_SCHEMES)
def test_keygen_encrypt_decrypt_round_trip_a_plugin_scheme(name, example_site, monkeypatch, clean_registries, tmp_path,
                                                            cifar_subset):
    monkeypatch.syspath_prepend(str(example_site))
    plain = tmp_path / "plain.npz"
    np.savez(plain, x_test=cifar_subset["x_test"][:6])
    key, enc, dec = tmp_path / "key.json", tmp_path / "enc.npz", tmp_path / "dec.npz"
    assert main(["keygen", "--scheme", name, "--out", str(key)]) == 0
    assert main(["encrypt", "--scheme", name, "--key", str(key), str(plain), str(enc)]) == 0
    assert main(["decrypt", "--scheme", name, "--key", str(key), str(enc), str(dec)]) == 0
    x = np.load(plain)["x_test"]
    assert not np.array_equal(np.load(enc)["x_test"], x) and np.array_equal(np.load(dec)["x_test"], x)


@pytest.fixture(scope="module")
def plugin_run(example_site, tmp_path_factory) -> tuple[Path, dict]:
    """One smoke run of the plugin scheme with a built-in attack, the plugin's attack and a structure attack."""
    results = tmp_path_factory.mktemp("plugin-results")
    out = ppbench("run", "--profile", "smoke", "--scheme", "pixperm", "--dataset", "sample", "--n-train", "32",
                  "--n-test", "16", "--attack", "fr", "mean_image", "kpa", "--results", str(results),
                  env=cli_env(example_site))
    assert out.returncode == 0, out.stderr
    assert "kpa n/a" in out.stdout
    (record_path,) = results.glob("*/result.json")
    return results, json.loads(record_path.read_text())


@pytest.mark.slow
def test_run_trains_and_attacks_a_plugin_scheme(plugin_run):
    _, record = plugin_run
    assert record["status"] == "complete" and record["scheme"]["name"] == "pixperm"
    assert record["scheme"]["info"]["family"] == "example" and record["paper"] is None
    assert record["network"]["name"] == "vit_smoke" and 0 <= record["metrics"]["accuracy"] <= 1
    attacks = record["metrics"]["attacks"]
    assert 0 <= attacks["fr"]["ssim_mean"] < 0.5 and 0 <= attacks["mean_image"]["ssim_mean"] < 0.5
    assert attacks["mean_image"]["threat_model"] == "ciphertext_only_unpaired_plain"
    assert attacks["kpa"]["status"] == "not_applicable" and "structure" in attacks["kpa"]["reason"]


@pytest.mark.slow
def test_report_and_check_read_a_plugin_scheme(plugin_run, example_site, tmp_path):
    results, _ = plugin_run
    env = cli_env(example_site)
    out = ppbench("report", "--results", str(results), "--out", str(tmp_path / "report"), env=env)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "report" / "table1.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| pixperm |"))
    assert "vit_smoke" in row and "n/a (kpa)" in row
    assert "n/a: kpa does not apply to pixperm (profile smoke)" in table
    assert (tmp_path / "report" / "fig4.png").stat().st_size > 0
    thresholds = tmp_path / "bounds.toml"
    thresholds.write_text('[rows."pixperm/vit_smoke"]\nmin_accuracy = 0.0\nmax_ssim.fr = 0.9\nmax_ssim.mean_image = 0.9\n')
    good = ppbench("report", "--results", str(results), "--check", str(thresholds), env=env)
    assert good.returncode == 0 and "ok   pixperm/vit_smoke: fr SSIM" in good.stdout, good.stdout + good.stderr
    thresholds.write_text('[rows."pixperm/vit_smoke"]\nmax_ssim.kpa = 0.9\n')
    na = ppbench("report", "--results", str(results), "--check", str(thresholds), env=env)
    assert na.returncode == 1 and "kpa is n/a for scheme pixperm" in na.stdout


@pytest.mark.slow
def test_attack_command_runs_a_plugin_attack_and_refuses_a_structure_attack(example_site, tmp_path, cifar_subset):
    env = cli_env(example_site)
    data = tmp_path / "data.npz"
    np.savez(data, x_train=cifar_subset["x_train"][:32], x_test=cifar_subset["x_test"][:8])
    key, enc = tmp_path / "key.json", tmp_path / "enc.npz"
    assert ppbench("keygen", "--scheme", "pixperm", "--out", str(key), env=env).returncode == 0
    assert ppbench("encrypt", "--scheme", "pixperm", "--key", str(key), str(data), str(enc), env=env).returncode == 0
    out = ppbench("attack", "--scheme", "pixperm", "--attack", "mean_image", "--ciphertexts", str(enc), "--plain",
                  str(data), "--dataset", str(data), "--key", str(key), "--profile", "smoke", env=env)
    assert out.returncode == 0 and "mean_image vs pixperm: SSIM mean" in out.stdout, out.stderr
    refused = ppbench("attack", "--scheme", "pixperm", "--attack", "pooled", "--ciphertexts", str(enc), "--dataset",
                      str(data), "--key", str(key), "--profile", "smoke", env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("ppbench: error: attack 'pooled' does not apply to scheme 'pixperm'")


@pytest.mark.slow
def test_curve_runs_or_says_not_applicable_for_each_curve_attack(example_site, tmp_path):
    from ppbench.curve import curve_attacks

    env = cli_env(example_site)
    probe = subprocess.run([sys.executable, "-c", "import json; from ppbench.attacks import attack_class; "
                            "from ppbench.curve import curve_attacks; from ppbench.schemes import scheme_info; "
                            "print(json.dumps({a: attack_class(a).applicable(scheme_info('pixperm')) is None "
                            "for a in curve_attacks()}))"],
                           env=env, capture_output=True, text=True, check=True)  # one interpreter for every attack
    claims = json.loads(probe.stdout)
    assert sorted(claims) == sorted(curve_attacks())
    for attack in curve_attacks():
        out = ppbench("curve", "--scheme", "pixperm", "--attack", attack, "--n", "1,2", "--n-eval", "8",
                      "--out", str(tmp_path / attack), env=env)
        if claims[attack]:  # the attack claims the plugin scheme: it must draw the curve
            assert out.returncode == 0, out.stderr
            rows = (tmp_path / attack / "curve.csv").read_text().splitlines()
            assert len(rows) == 3 and rows[1].startswith(f"pixperm,{attack},32,")
        else:
            assert out.returncode == 2 and f"attack '{attack}' does not apply to scheme 'pixperm'" in out.stderr


@pytest.mark.slow
def test_sweep_runs_a_plugin_scheme_in_child_processes(example_site, tmp_path):
    sweep = tmp_path / "plugin.toml"
    sweep.write_text(textwrap.dedent(f"""\
        [sweep]
        name = "plugin"
        results = "{tmp_path / 'results'}"
        report = "{tmp_path / 'report'}"
        [fixed]
        profile = "smoke"
        dataset = "sample"
        n_train = 32
        n_test = 16
        attacks = ["fr"]
        [grid]
        scheme = ["rowshift"]
        """))
    out = ppbench("sweep", str(sweep), "--executor", "local", env=cli_env(example_site))
    assert out.returncode == 0, out.stdout + out.stderr
    (record,) = (tmp_path / "results").glob("rowshift-*/result.json")
    data = json.loads(record.read_text())
    assert data["status"] == "complete" and 0 <= data["metrics"]["attacks"]["fr"]["ssim_mean"] < 0.5
    assert "rowshift" in (tmp_path / "report" / "table1.md").read_text()
