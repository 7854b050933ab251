"""Keys: CSPRNG secrets, deterministic unbiased derivation, files with mode 0600, refusal and secrecy."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from ppbench.errors import KeyFileError
from ppbench.keys import SECRET_BYTES, KeyStream, SchemeKey, _checksum
from ppbench.schemes import create_scheme, generate_key

SECRET = bytes(range(32))


def test_generated_keys_are_256_bit_and_distinct():
    a, b = generate_key("proposed"), generate_key("proposed")
    assert len(a.secret) == SECRET_BYTES == 32
    assert a.secret != b.secret and a.key_id != b.key_id


def test_the_same_secret_gives_the_same_key_material():
    params = {"image_size": [32, 32], "block_size": 4}
    one = create_scheme("ele", key=SchemeKey("ele", params, SECRET)).key_material()
    two = create_scheme("ele", key=SchemeKey("ele", params, SECRET)).key_material()
    assert all(np.array_equal(one[k], two[k]) for k in one)


def test_sub_keys_are_domain_separated():
    """Two sub-keys of one key, or the same sub-key under other parameters, never share a stream."""
    key = SchemeKey("proposed", {"image_size": [32, 32], "block_size": 4}, SECRET)
    other = SchemeKey("proposed", {"image_size": [64, 64], "block_size": 4}, SECRET)
    assert key.stream("k1").read(64) != key.stream("k2").read(64)
    assert key.stream("k1").read(64) != other.stream("k1").read(64)


def test_stream_reads_are_prefix_consistent():
    one = KeyStream(SECRET, "x")
    parts = one.read(10) + one.read(5000) + one.read(3)
    assert parts == KeyStream(SECRET, "x").read(5013)


def test_uniform_integers_are_unbiased_for_a_non_power_of_two_bound():
    counts = np.bincount(KeyStream(SECRET, "chi2").integers(6, 60_000), minlength=6)
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 20.5  # 99.9% quantile of chi-square with 5 degrees of freedom; deterministic stream


def test_rejection_sampling_rejects_words_above_the_last_full_multiple():
    class Rigged(KeyStream):
        def __init__(self):
            self.served = iter([2**64 - 1, 2**64 - 4, 2**64 - 5])

        def words(self, n):
            return np.array([next(self.served) for _ in range(n)], dtype=np.uint64)

    # 2**64 = 6q + 4, so words >= 2**64 - 4 would favour 0..3: both rejected, 2**64 - 5 accepted
    assert Rigged().integers(6, 1).tolist() == [(2**64 - 5) % 6]


def test_fisher_yates_permutations_are_uniform_over_all_orders():
    perms = KeyStream(SECRET, "fy").permutations(24_000, 3)
    codes = perms[:, 0] * 9 + perms[:, 1] * 3 + perms[:, 2]
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == 6
    assert ((counts - 4_000) ** 2 / 4_000).sum() < 20.5


def test_key_file_is_written_with_mode_0600_and_loads_back(tmp_path):
    key = generate_key("le", image_size=32, block_size=4)
    path = key.save(tmp_path / "key.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = SchemeKey.load(path)
    assert loaded.secret == key.secret and loaded.scheme == "le" and loaded.params == key.params
    record = json.loads(path.read_text())
    assert record["format"] == "ppbench-key" and record["format_version"] == 2 and len(record["checksum"]) == 64
    assert not list(tmp_path.glob(".*tmp")), "no temp file left behind"


def test_existing_key_file_is_not_overwritten(tmp_path):
    path = generate_key("le").save(tmp_path / "key.json")
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists.*--overwrite"):
        generate_key("le").save(path)
    assert path.read_bytes() == before


def test_key_file_of_another_scheme_is_refused_naming_both(tmp_path):
    path = generate_key("le").save(tmp_path / "key.json")
    with pytest.raises(KeyFileError, match="made for scheme 'le'.*not for scheme 'ele'.*keygen --scheme ele"):
        create_scheme("ele", key=path)


def test_key_file_of_another_size_is_refused(tmp_path):
    path = generate_key("etc", image_size=32, block_size=4).save(tmp_path / "key.json")
    with pytest.raises(KeyFileError, match="block 4.*not.*block 8"):
        create_scheme("etc", key=path, block_size=8)
    with pytest.raises(KeyFileError, match="image 32x32.*not.*image 64x64"):
        create_scheme("etc", key=path, image_size=64)


@pytest.mark.parametrize(
    "content,match",
    [
        ("{not json", "not readable JSON"),
        ('{"format": "something-else"}', "not a ppbench key file"),
        ('{"format": "ppbench-key", "format_version": 99}', "format version 99"),
        ('{"format": "ppbench-key", "format_version": 2, "scheme": "le", "secret": "zz"}', "lacks params, key_id, checksum"),
        ('{"format": "ppbench-key", "format_version": 2, "scheme": "le", "params": {}, "key_id": "x", "secret": "00", '
         '"checksum": "00"}', "edited or damaged"),
    ],
)
def test_corrupt_key_files_are_refused_clearly(tmp_path, content, match):
    path = tmp_path / "key.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=match):
        SchemeKey.load(path)


def test_tampered_secret_is_detected_by_its_checksum_and_its_key_id(tmp_path):
    path = generate_key("le").save(tmp_path / "key.json")
    raw = json.loads(path.read_text())
    raw["secret"] = "00" * 32
    path.write_text(json.dumps(raw))
    with pytest.raises(KeyFileError, match="edited or damaged.*checksum"):
        SchemeKey.load(path)
    raw["checksum"] = _checksum({k: v for k, v in raw.items() if k != "checksum"})  # a careful forger
    path.write_text(json.dumps(raw))
    with pytest.raises(KeyFileError, match="key_id does not match"):
        SchemeKey.load(path)


def test_missing_key_file_says_how_to_make_one(tmp_path):
    with pytest.raises(KeyFileError, match="not found.*ppbench keygen"):
        SchemeKey.load(tmp_path / "nope.json")


def test_the_secret_never_appears_in_repr_str_or_errors(tmp_path):
    key = generate_key("proposed")
    scheme = create_scheme("proposed", key=key)
    secret_hex = key.secret.hex()
    texts = [repr(key), str(key), repr(scheme), str(scheme)]
    try:
        key.check("le", {})
    except KeyFileError as exc:
        texts.append(str(exc))
    assert all(secret_hex not in t and secret_hex[:16] not in t for t in texts)
    assert "hidden" in repr(key)


@pytest.mark.parametrize("seed", [0, 42, 2**31])
def test_small_integer_seeds_are_not_keys(seed):
    with pytest.raises((KeyFileError, TypeError)):
        SchemeKey("proposed", {}, seed)  # type: ignore[arg-type]
    with pytest.raises(Exception):
        create_scheme("proposed", key=seed)  # type: ignore[arg-type]


# -- key files are protected as a whole (format version 2) and private ------------------------------------
V1_FILE = {"format": "ppbench-key", "format_version": 1, "scheme": "le", "params": {"block_size": 4, "image_size": [32, 32]},
           "key_id": "5eb6f32a70c46b92", "secret": SECRET.hex()}  # exactly what ppbench 1 wrote for SECRET


def _cli_error(args: list[str], capsys) -> str:
    """Run the CLI, expect exit 2 and one `ppbench: error:` line on stderr, no traceback; return that line."""
    from ppbench.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ppbench: error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture()
def images_npz(tmp_path, real_images):
    path = tmp_path / "images.npz"
    np.savez(path, x=real_images[:2])
    return path


def test_key_id_and_key_material_are_unchanged_by_the_new_file_format(tmp_path):
    key = SchemeKey("le", V1_FILE["params"], SECRET)
    assert key.key_id == V1_FILE["key_id"]  # frozen: records name keys by it
    loaded = SchemeKey.load(key.save(tmp_path / "k.json"))
    one, two = create_scheme("le", key=key).key_material(), create_scheme("le", key=loaded).key_material()
    assert all(np.array_equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize(
    "edit,scheme,match",
    [
        (lambda r: r.update(scheme="pe"), "pe", "edited or damaged"),
        (lambda r: r["params"].update(image_size=[64, 64]), "le", "edited or damaged"),
        (lambda r: r["params"].update(block_size=8), "le", "edited or damaged"),
        (lambda r: r["params"].update(block_size=0), "le", "edited or damaged"),
        (lambda r: r.pop("key_id"), "le", "lacks key_id"),
        (lambda r: r.pop("checksum"), "le", "lacks checksum"),
        (lambda r: r.update(note="added"), "le", "edited or damaged"),
    ],
    ids=["scheme", "image_size", "block_size", "block_size_0", "no_key_id", "no_checksum", "added_field"],
)
def test_an_edited_key_file_is_refused_with_one_line_and_no_output(tmp_path, capsys, images_npz, edit, scheme, match):
    path = generate_key("le", image_size=32, block_size=4).save(tmp_path / "k.json")
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw, indent=2))  # keeps mode 0600
    err = _cli_error(["encrypt", "--scheme", scheme, "--key", str(path), str(images_npz), str(tmp_path / "out.npz")], capsys)
    assert match in err and str(path) in err and "keygen" in err, err
    assert not (tmp_path / "out.npz").exists()


def test_version_1_key_file_is_refused_with_an_upgrade_command_that_keeps_the_key(tmp_path, capsys, images_npz):
    from ppbench.cli import main

    path = tmp_path / "old.json"
    path.write_text(json.dumps(V1_FILE))
    path.chmod(0o600)
    err = _cli_error(["encrypt", "--scheme", "le", "--key", str(path), str(images_npz), str(tmp_path / "o.npz")], capsys)
    assert "format version 1" in err and "scheme 'le', image 32x32, block 4" in err
    command = err.split("`")[1]
    assert command == f"ppbench keygen --upgrade {path}"
    assert main(command.split()[1:]) == 0
    assert "check these are the settings" in capsys.readouterr().out
    upgraded = SchemeKey.load(path)
    assert upgraded.secret == SECRET and upgraded.key_id == V1_FILE["key_id"] and upgraded.params == V1_FILE["params"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["encrypt", "--scheme", "le", "--key", str(path), str(images_npz), str(tmp_path / "o.npz")]) == 0
    assert "already in format version 2" in _cli_error(["keygen", "--upgrade", str(path)], capsys)


def test_upgrade_refuses_a_version_1_file_without_a_matching_key_id(tmp_path, capsys):
    path = tmp_path / "old.json"
    for raw, match in (({k: v for k, v in V1_FILE.items() if k != "key_id"}, "lacks its key_id"),
                       ({**V1_FILE, "secret": "11" * 32}, "key_id does not match")):
        path.write_text(json.dumps(raw))
        path.chmod(0o600)
        assert match in _cli_error(["keygen", "--upgrade", str(path)], capsys)
        assert json.loads(path.read_text()) == raw  # left as it was


@pytest.mark.skipif(__import__("os").name != "posix", reason="file modes exist on POSIX only")
@pytest.mark.parametrize("mode,who", [(0o644, "readable"), (0o640, "readable"), (0o604, "readable"), (0o620, "writable")])
def test_key_file_open_to_group_or_others_is_refused_with_the_chmod_fix(tmp_path, capsys, images_npz, mode, who):
    from ppbench.cli import main

    path = generate_key("le", image_size=32, block_size=4).save(tmp_path / "k.json")
    path.chmod(mode)
    args = ["encrypt", "--scheme", "le", "--key", str(path), str(images_npz), str(tmp_path / "o.npz")]
    err = _cli_error(args, capsys)
    assert f"{who} by group or others (mode {mode:04o})" in err and f"run `chmod 600 {path}`" in err
    assert not (tmp_path / "o.npz").exists()
    with pytest.raises(KeyFileError, match="chmod 600"):  # every loader goes through SchemeKey.load
        create_scheme("le", key=path)
    path.chmod(0o600)
    assert main(args) == 0


def test_keygen_onto_a_folder_or_with_missing_options_gives_one_line(tmp_path, capsys):
    assert "is a folder" in _cli_error(["keygen", "--scheme", "le", "--out", str(tmp_path), "--overwrite"], capsys)
    assert "needs --out" in _cli_error(["keygen", "--scheme", "le"], capsys)
    assert "takes no --scheme" in _cli_error(["keygen", "--upgrade", str(tmp_path / "k.json"), "--scheme", "le"], capsys)
    assert list(tmp_path.iterdir()) == []


def test_exclusive_save_never_replaces_a_key_file_created_meanwhile(tmp_path, monkeypatch):
    """The exists() check is passed, then another process creates the file: the save must still fail."""
    path = tmp_path / "k.json"
    original = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self == path else original(self))
    path.write_bytes(b"the other process's key")
    with pytest.raises(KeyFileError, match="created by another process"):
        generate_key("le").save(path)
    assert path.read_bytes() == b"the other process's key"
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]
