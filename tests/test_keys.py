"""Keys: CSPRNG secrets, deterministic unbiased derivation, files with mode 0600, refusal and secrecy."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from ppbench.errors import KeyFileError
from ppbench.keys import SECRET_BYTES, KeyStream, SchemeKey
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
    assert record["format"] == "ppbench-key" and record["format_version"] == 1
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
        ('{"format": "ppbench-key", "format_version": 1, "scheme": "le", "secret": "zz"}', "corrupt"),
        ('{"format": "ppbench-key", "format_version": 1, "scheme": "le", "secret": "00"}', "corrupt"),
    ],
)
def test_corrupt_key_files_are_refused_clearly(tmp_path, content, match):
    path = tmp_path / "key.json"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=match):
        SchemeKey.load(path)


def test_tampered_secret_is_detected_by_its_key_id(tmp_path):
    path = generate_key("le").save(tmp_path / "key.json")
    raw = json.loads(path.read_text())
    raw["secret"] = "00" * 32
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
