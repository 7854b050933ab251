"""The keygen / encrypt / decrypt / list commands: bit-exact round trips and one-line errors (exit 2)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ppbench.cli import main
from ppbench.schemes import list_schemes, scheme_info


def keygen(tmp_path, scheme: str, *extra: str) -> str:
    path = tmp_path / f"{scheme}.json"
    assert main(["keygen", "--scheme", scheme, "--image-size", "32", *extra, "--out", str(path)]) == 0
    return str(path)


def run_error(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ppbench: error:") and "\n" not in err, err
    return err


@pytest.fixture()
def npz_input(tmp_path, real_images):
    path = tmp_path / "images.npz"
    np.savez(path, x_test=real_images[:6], y_test=np.arange(6), note=np.array("kept"))
    return path


@pytest.mark.parametrize("scheme", list_schemes(exclude="plain"))
def test_npz_round_trip_is_bit_exact_and_other_arrays_are_copied(tmp_path, scheme, npz_input):
    key = keygen(tmp_path, scheme)
    enc, dec = tmp_path / "enc.npz", tmp_path / "dec.npz"
    assert main(["encrypt", "--scheme", scheme, "--key", key, str(npz_input), str(enc)]) == 0
    assert main(["decrypt", "--scheme", scheme, "--key", key, str(enc), str(dec)]) == 0
    original, encrypted, decrypted = np.load(npz_input), np.load(enc), np.load(dec)
    assert not np.array_equal(encrypted["x_test"], original["x_test"])
    assert np.array_equal(decrypted["x_test"], original["x_test"])
    assert np.array_equal(encrypted["y_test"], original["y_test"]) and str(encrypted["note"]) == "kept"


def test_paper_setting_is_one_flag_away_resize_224(tmp_path, npz_input):
    key = tmp_path / "k.json"
    assert main(["keygen", "--scheme", "proposed", "--out", str(key)]) == 0  # default: 224, block 16
    enc, dec = tmp_path / "enc.npz", tmp_path / "dec.npz"
    assert main(["encrypt", "--scheme", "proposed", "--key", str(key), "--resize", "224", str(npz_input), str(enc)]) == 0
    assert np.load(enc)["x_test"].shape == (6, 224, 224, 3)
    assert main(["decrypt", "--scheme", "proposed", "--key", str(key), str(enc), str(dec)]) == 0
    from ppbench.transforms import nhwc_to_nchw, resize_uint8, nchw_to_nhwc

    expected = nchw_to_nhwc(resize_uint8(nhwc_to_nchw(np.load(npz_input)["x_test"]), 224))
    assert np.array_equal(np.load(dec)["x_test"], expected)


def test_image_file_and_folder_round_trip_keeps_structure(tmp_path, real_images):
    src = tmp_path / "imgs"
    (src / "cats").mkdir(parents=True)
    Image.fromarray(real_images[0]).save(src / "a.png")
    Image.fromarray(real_images[1]).save(src / "cats" / "b.png")
    key = keygen(tmp_path, "etc", "--block-size", "4")
    assert main(["encrypt", "--scheme", "etc", "--key", key, str(src), str(tmp_path / "enc")]) == 0
    assert main(["decrypt", "--scheme", "etc", "--key", key, str(tmp_path / "enc"), str(tmp_path / "dec")]) == 0
    assert sorted(p.relative_to(tmp_path / "dec").as_posix() for p in (tmp_path / "dec").rglob("*.png")) == ["a.png", "cats/b.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "dec" / "cats" / "b.png")), real_images[1])
    assert main(["encrypt", "--scheme", "etc", "--key", key, str(src / "a.png"), str(tmp_path / "a_enc.png")]) == 0
    assert main(["decrypt", "--scheme", "etc", "--key", key, str(tmp_path / "a_enc.png"), str(tmp_path / "a_dec.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a_dec.png")), real_images[0])


def test_keygen_writes_mode_0600_and_never_prints_the_secret(tmp_path, capsys):
    path = keygen(tmp_path, "proposed", "--block-size", "4")
    out = capsys.readouterr().out
    assert stat.S_IMODE((tmp_path / "proposed.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "proposed.json").read_text())["secret"] not in out
    assert "0600" in out and path


def test_block_size_is_refused_for_a_scheme_without_blocks(tmp_path, capsys):
    assert "not block-wise" in run_error(["keygen", "--scheme", "pe", "--block-size", "4", "--out", str(tmp_path / "k")], capsys)


@pytest.mark.parametrize(
    "array,match",
    [
        (np.zeros((2, 32, 32, 3), np.float32), "float32.*uint8"),
        (np.zeros((2, 32, 32, 3), np.int16), "int16.*uint8"),
        (np.zeros((2, 32, 32, 4), np.uint8), "N x H x W x 3"),
        (np.zeros((2, 30, 30, 3), np.uint8), "are 30x30.*key is for 32x32"),
    ],
)
def test_bad_arrays_get_a_one_line_error_and_no_output(tmp_path, capsys, array, match):
    key = keygen(tmp_path, "le", "--block-size", "4")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=array)
    err = run_error(["encrypt", "--scheme", "le", "--key", key, str(bad), str(tmp_path / "out.npz")], capsys)
    assert __import__("re").search(match, err), err
    assert not (tmp_path / "out.npz").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "no temp file left"


def test_errors_name_problem_and_fix(tmp_path, capsys, npz_input):
    le = keygen(tmp_path, "le", "--block-size", "4")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    cases = [
        (["encrypt", "--scheme", "ele", "--key", le, str(npz_input), str(tmp_path / "o1.npz")], "made for scheme 'le'.*not for scheme 'ele'.*keygen"),
        (["encrypt", "--scheme", "le", "--key", le, "--block-size", "8", str(npz_input), str(tmp_path / "o2.npz")], "block 4.*block 8"),
        (["encrypt", "--scheme", "le", "--key", le, str(corrupt), str(tmp_path / "o3.npz")], "cannot read.*npz"),
        (["encrypt", "--scheme", "le", "--key", le, str(tmp_path / "missing.npz"), str(tmp_path / "o4.npz")], "does not exist"),
        (["encrypt", "--scheme", "le", "--key", str(tmp_path / "nokey.json"), str(npz_input), str(tmp_path / "o5.npz")], "not found.*keygen"),
        (["encrypt", "--scheme", "le", str(npz_input), str(tmp_path / "o6.npz")], "--key KEY is required"),
        (["encrypt", "--scheme", "lee", "--key", le, str(npz_input), str(tmp_path / "o7.npz")], "Did you mean 'le'"),
        (["encrypt", "--scheme", "le", "--key", le, str(npz_input), str(tmp_path / "o8.jpg")], "neither|lossless"),
        (["keygen", "--scheme", "proposed", "--image-size", "30", "--block-size", "4", "--out", str(tmp_path / "k")], "not divisible by the block size 4"),
    ]
    for args, match in cases:
        err = run_error(args, capsys)
        assert __import__("re").search(match, err), (args, err)
    assert not any(p.name.startswith("o") and p.suffix in {".npz", ".jpg"} for p in tmp_path.iterdir())


def test_existing_output_needs_overwrite(tmp_path, capsys, npz_input):
    key = keygen(tmp_path, "pe")
    out = tmp_path / "out.npz"
    out.write_bytes(b"user data")
    assert "already exists" in run_error(["encrypt", "--scheme", "pe", "--key", key, str(npz_input), str(out)], capsys)
    assert out.read_bytes() == b"user data"
    assert main(["encrypt", "--scheme", "pe", "--key", key, "--overwrite", str(npz_input), str(out)]) == 0


def test_grey_image_is_refused_naming_rgb(tmp_path, capsys, real_images):
    key = keygen(tmp_path, "pe")
    grey = tmp_path / "g.png"
    Image.fromarray(real_images[0]).convert("L").save(grey)
    assert "convert it first" in run_error(["encrypt", "--scheme", "pe", "--key", key, str(grey), str(tmp_path / "o.png")], capsys)


def test_list_schemes_and_version_and_help(capsys):
    assert main(["list", "schemes"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list_schemes()
    for command in ("list", "keygen", "encrypt", "decrypt"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_console_script_runs_from_any_directory(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ppbench.cli", "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("ppbench ")
    assert all(scheme_info(n) for n in list_schemes())
