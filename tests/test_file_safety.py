"""Nothing a user wrote is lost: keygen, encrypt and decrypt never delete, drop, cut or half-write a file."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ppbench import atomic
from ppbench.cli import main
from ppbench.keys import SchemeKey

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX processes and file semantics")


def cli_error(args: list[str], capsys) -> str:
    """Run the CLI, expect exit 2 and one `ppbench: error:` line on stderr with no traceback; return that line."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ppbench: error:") and "\n" not in err and "Traceback" not in err, err
    return err


def leftovers(folder: Path) -> list[str]:
    """Temp files and staging folders of ppbench anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob("*") if ".ppbench-" in p.name)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture()
def key(tmp_path) -> str:
    path = tmp_path / "key.json"
    assert main(["keygen", "--scheme", "le", "--image-size", "32", "--block-size", "4", "--out", str(path)]) == 0
    return str(path)


@pytest.fixture()
def photos(tmp_path, real_images) -> Path:
    """A user's folder: three images, a JPEG original and notes that are not images."""
    folder = tmp_path / "photos"
    (folder / "cats").mkdir(parents=True)
    Image.fromarray(real_images[0]).save(folder / "a.png")
    Image.fromarray(real_images[1]).save(folder / "cats" / "b.png")
    Image.fromarray(real_images[2]).save(folder / "c.jpg", quality=95)
    (folder / "notes.txt").write_text("my notes")
    return folder


def encrypt(key: str, *paths: Path | str, overwrite: bool = False) -> list[str]:
    return ["encrypt", "--scheme", "le", "--key", key, *(["--overwrite"] if overwrite else []), *map(str, paths)]


# -- 1. OUTPUT is never the INPUT, inside it or around it; --overwrite replaces only its own files -------------
@pytest.mark.parametrize("where", ["same", "inside", "above", "symlink"])
def test_output_that_is_inside_or_above_the_input_is_refused_and_nothing_is_touched(tmp_path, capsys, key, photos, where):
    (tmp_path / "sibling").mkdir()
    (tmp_path / "sibling" / "keep.txt").write_text("sibling data")
    if where == "symlink":
        (tmp_path / "link").symlink_to(photos, target_is_directory=True)
    output = {"same": photos, "inside": photos / "enc", "above": tmp_path, "symlink": tmp_path / "link"}[where]
    before = snapshot(tmp_path)
    err = cli_error(encrypt(key, photos, output, overwrite=True), capsys)
    assert str(photos) in err and str(output) in err and "choose a separate output" in err, err
    assert snapshot(tmp_path) == before


def test_output_file_that_is_the_input_file_is_refused(tmp_path, capsys, key, photos):
    before = (photos / "a.png").read_bytes()
    assert "is the input" in cli_error(encrypt(key, photos / "a.png", photos / "a.png", overwrite=True), capsys)
    assert (photos / "a.png").read_bytes() == before


def test_overwrite_replaces_only_the_files_it_writes_and_keeps_everything_else(tmp_path, capsys, key, photos, real_images):
    out = tmp_path / "enc"
    (out / "cats").mkdir(parents=True)
    (out / "README.txt").write_text("the user's notes")
    (out / "cats" / "old.png").write_bytes(b"an older ciphertext the user keeps")
    (out / "a.png").write_bytes(b"stale ciphertext")
    assert main(encrypt(key, photos, out, overwrite=True)) == 0
    assert "encrypted 3 image(s)" in capsys.readouterr().out
    assert (out / "README.txt").read_text() == "the user's notes"
    assert (out / "cats" / "old.png").read_bytes() == b"an older ciphertext the user keeps"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "c.png", "cats/b.png", "cats/old.png"]
    assert main(["decrypt", "--scheme", "le", "--key", key, str(out / "a.png"), str(tmp_path / "a.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), real_images[0])
    assert snapshot(photos)["notes.txt"] == b"my notes" and leftovers(tmp_path) == []


def test_overwrite_where_a_target_is_a_folder_is_refused_before_anything_is_written(tmp_path, capsys, key, photos):
    out = tmp_path / "enc"
    (out / "a.png").mkdir(parents=True)
    (out / "a.png" / "inside.txt").write_text("kept")
    (out / "c.png").write_bytes(b"old")
    before = snapshot(out)
    assert "is a folder where this run would write" in cli_error(encrypt(key, photos, out, overwrite=True), capsys)
    assert snapshot(out) == before and leftovers(tmp_path) == []


@pytest.mark.parametrize("source", ["a.png", "images.npz"])
def test_overwrite_onto_a_folder_when_the_output_is_one_file_gives_one_line(tmp_path, capsys, key, photos, real_images, source):
    np.savez(photos / "images.npz", x=real_images[:2])
    target = tmp_path / "existing"
    target.mkdir()
    (target / "keep.txt").write_text("kept")
    err = cli_error(encrypt(key, photos / source, target, overwrite=True), capsys)
    assert f"output {target} is a folder" in err and "name a file" in err
    assert snapshot(target) == {"keep.txt": b"kept"} and leftovers(tmp_path) == []


def test_overwrite_of_a_file_by_a_folder_output_is_refused(tmp_path, capsys, key, photos):
    target = tmp_path / "enc"
    target.write_text("a file of the user's")
    assert "is a file but the input" in cli_error(encrypt(key, photos, target, overwrite=True), capsys)
    assert target.read_text() == "a file of the user's"


# -- 2. two inputs, one output name ---------------------------------------------------------------------------
def test_two_inputs_that_map_to_one_output_name_are_refused_naming_both(tmp_path, capsys, key, photos, real_images):
    Image.fromarray(real_images[3]).save(photos / "a.jpg", quality=95)
    err = cli_error(encrypt(key, photos, tmp_path / "enc"), capsys)
    assert str(photos / "a.jpg") in err and str(photos / "a.png") in err and "rename one" in err
    assert not (tmp_path / "enc").exists() and leftovers(tmp_path) == []


# -- 3. images ppbench cannot hold exactly -------------------------------------------------------------------------
def _png16_rgb(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one; it reads it back as 8-bit "RGB")."""
    h, w, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _rgba(real_images: np.ndarray, alpha: int) -> Image.Image:
    return Image.fromarray(np.dstack([real_images[0], np.full((32, 32), alpha, np.uint8)]))


@pytest.mark.parametrize(
    "name,make,match",
    [
        ("rgb16.png", lambda p, x: _png16_rgb(p, x[0].astype(np.uint16) * 257 + 1), "16-bit PNG"),
        ("grey16.png", lambda p, x: Image.fromarray(x[0, ..., 0].astype(np.uint16) * 257).save(p), "16-bit PNG"),
        ("grey16.tif", lambda p, x: Image.fromarray(x[0, ..., 0].astype(np.uint16) * 257).save(p), "16-bit TIFF"),
        ("palette.png", lambda p, x: Image.fromarray(x[0]).convert("P").save(p), "palette PNG"),
        ("clear.png", lambda p, x: _rgba(x, 128).save(p), "transparent pixels"),
        ("cmyk.jpg", lambda p, x: Image.fromarray(x[0]).convert("CMYK").save(p), "is CMYK"),
    ],
)
def test_images_ppbench_cannot_hold_exactly_are_refused_naming_file_kind_and_fix(tmp_path, capsys, key, real_images, name, make, match):
    path = tmp_path / name
    make(path, real_images)
    err = cli_error(encrypt(key, path, tmp_path / "out.png"), capsys)
    assert str(path) in err and match in err and ("first" in err), err
    assert not (tmp_path / "out.png").exists() and leftovers(tmp_path) == []


def test_one_bad_image_in_a_folder_writes_nothing(tmp_path, capsys, key, photos, real_images):
    Image.fromarray(real_images[5]).convert("P").save(photos / "cats" / "zz.png")
    assert "palette" in cli_error(encrypt(key, photos, tmp_path / "enc"), capsys)
    assert not (tmp_path / "enc").exists() and leftovers(tmp_path) == []


def test_8_bit_rgb_png_jpeg_and_fully_opaque_rgba_are_accepted(tmp_path, key, real_images):
    _rgba(real_images, 255).save(tmp_path / "opaque.png")
    Image.fromarray(real_images[0]).save(tmp_path / "plain.jpg", quality=95)
    for name in ("opaque.png", "plain.jpg"):
        out, back = tmp_path / f"{name}.enc.png", tmp_path / f"{name}.dec.png"
        assert main(encrypt(key, tmp_path / name, out)) == 0
        assert main(["decrypt", "--scheme", "le", "--key", key, str(out), str(back)]) == 0
        expected = real_images[0] if name == "opaque.png" else np.asarray(Image.open(tmp_path / name))
        assert np.array_equal(np.asarray(Image.open(back)), expected)


# -- 4. exclusive, atomic creation; staging left by a killed run is cleaned up ---------------------------------
def _keygen_racer(path: str, barrier, results) -> None:
    out, err = io.StringIO(), io.StringIO()
    barrier.wait(timeout=60)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["keygen", "--scheme", "le", "--image-size", "32", "--block-size", "4", "--out", path])
    results.put((code, out.getvalue(), err.getvalue()))


def _encrypt_racer(args: list[str], barrier, results) -> None:
    out, err = io.StringIO(), io.StringIO()
    barrier.wait(timeout=60)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    results.put((code, out.getvalue(), err.getvalue()))


def _race(target, args_list: list[tuple], start: str) -> list[tuple[int, str, str]]:
    """Run ``target`` in several processes released together by a barrier; their (exit code, stdout, stderr)."""
    ctx = multiprocessing.get_context(start)
    barrier, results = ctx.Barrier(len(args_list)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for args in args_list]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    return outcomes


@POSIX
def test_of_six_concurrent_keygens_to_one_path_exactly_one_succeeds(tmp_path):
    path = tmp_path / "k.json"
    outcomes = _race(_keygen_racer, [(str(path),)] * 6, "fork")  # keygen runs no torch op: fork is safe and fast
    winners = [o for o in outcomes if o[0] == 0]
    losers = [o for o in outcomes if o[0] != 0]
    assert len(winners) == 1 and len(losers) == 5, outcomes
    assert all(code == 2 and err.startswith("ppbench: error: key file") and err.count("\n") == 1 for code, _, err in losers)
    assert f"key_id {SchemeKey.load(path).key_id}" in winners[0][1]  # the file is the winner's key
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]


@POSIX
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["folder", "npz"])
def test_of_two_concurrent_encrypts_to_one_output_exactly_one_succeeds(tmp_path, key, photos, real_images, kind):
    np.savez(tmp_path / "images.npz", x=real_images[:8])
    source, out = (photos, tmp_path / "enc") if kind == "folder" else (tmp_path / "images.npz", tmp_path / "enc.npz")
    # spawn, not fork: a forked child of a process whose torch/OpenMP pool already ran may hang in its first op
    outcomes = _race(_encrypt_racer, [(encrypt(key, source, out),)] * 2, "spawn")
    assert sorted(code for code, _, _ in outcomes) == [0, 2], outcomes
    err = next(err for code, _, err in outcomes if code == 2)
    assert err.startswith("ppbench: error: output") and err.count("\n") == 1 and ("exists" in err or "another process" in err)
    if kind == "folder":
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.png", "c.png", "cats", "cats/b.png"]
    else:
        assert np.load(out)["x"].shape == (8, 32, 32, 3)
    assert leftovers(tmp_path) == []


def test_folder_output_created_while_the_run_works_is_never_replaced(tmp_path, capsys, key, photos, monkeypatch):
    """An empty folder appearing at OUTPUT mid-run (another process's claim) makes this run fail, not replace it."""
    from ppbench import files

    out = tmp_path / "enc"
    real = files._transform_batch

    def claim_then_transform(*args, **kwargs):
        out.mkdir(exist_ok=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(files, "_transform_batch", claim_then_transform)
    assert "created by another process" in cli_error(encrypt(key, photos, out), capsys)
    assert out.is_dir() and list(out.iterdir()) == [] and leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_exclusive_rename_refuses_an_existing_target_also_without_renameat2(tmp_path, monkeypatch, kind):
    for fallback in (False, True):
        if fallback:
            monkeypatch.setattr(atomic, "_renameat2_noreplace", lambda src, dst: False)
        src, dst = tmp_path / f"src{fallback}", tmp_path / f"dst{fallback}"
        if kind == "file":
            src.write_text("new")
            dst.write_text("old")
        else:
            (src / "x").mkdir(parents=True)
            dst.mkdir()  # empty: plain os.rename would silently replace it
        with pytest.raises(FileExistsError):
            atomic.rename_exclusive(src, dst)
        assert src.exists() and (dst.read_text() == "old" if kind == "file" else list(dst.iterdir()) == [])
        fresh = tmp_path / f"fresh{fallback}"
        atomic.rename_exclusive(src, fresh)
        assert fresh.exists() and not src.exists()


_SLOW_ENCRYPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ppbench.files import transform_path
    from ppbench.schemes import create_scheme

    key, source, output, marker = sys.argv[1:5]
    scheme, done = create_scheme("le", key=key), []

    def slow(x):
        done.append(1)
        if len(done) == 2:  # one image is staged: say so, then hang until killed
            Path(marker).touch()
            time.sleep(300)
        return scheme.encrypt(x)

    transform_path(Path(source), Path(output), slow)
""")


@POSIX
@pytest.mark.slow
def test_kill_9_during_encrypt_leaves_staging_that_the_next_run_removes(tmp_path, capsys, key, photos):
    out, marker = tmp_path / "enc", tmp_path / "staged"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_ENCRYPT, key, str(photos), str(out), str(marker)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the encrypt subprocess never reached its second image"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    stale = leftovers(tmp_path)
    assert len(stale) >= 1 and ".ppbench-staging." in stale[0] and f".{proc.pid}." in stale[0], stale
    assert not out.exists()
    assert main(encrypt(key, photos, out)) == 0
    assert leftovers(tmp_path) == []
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "c.png", "cats/b.png"]


def test_stale_temp_files_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "k.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = atomic._HOST
    stale = tmp_path / f".k.json.ppbench-tmp.{host}.{dead_pid}.abc123.tmp"
    live = tmp_path / f".k.json.ppbench-staging.{host}.{os.getpid()}.abc123"
    other_host = tmp_path / f".k.json.ppbench-tmp.elsewhere.{dead_pid}.abc123.tmp"
    other_name = tmp_path / f".j.json.ppbench-tmp.{host}.{dead_pid}.abc123.tmp"
    for path in (stale, other_host, other_name):
        path.write_text("x")
    live.mkdir()
    assert atomic.remove_stale(target) == [stale]
    assert not stale.exists() and live.exists() and other_host.exists() and other_name.exists()


# -- 7. block sizes and image sizes that cannot work --------------------------------------------------------------
@pytest.mark.parametrize("flag", ["0", "-4"])
def test_block_size_0_or_negative_gives_one_line(tmp_path, capsys, key, photos, flag):
    for args in (["keygen", "--scheme", "le", "--block-size", flag, "--out", str(tmp_path / "k0.json")],
                 encrypt(key, "--block-size", flag, photos / "a.png", tmp_path / "o.png"),
                 ["decrypt", "--scheme", "le", "--key", key, "--block-size", flag, str(photos / "a.png"), str(tmp_path / "o.png")]):
        assert f"block size {flag} must be at least 1" in cli_error(args, capsys)
    assert not (tmp_path / "k0.json").exists() and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("params", [{"image_size": [32, 32], "block_size": 0}, {"image_size": [0, 0], "block_size": 4},
                                    {"image_size": [-32, -32], "block_size": 4}, {"image_size": [10**6, 10**6], "block_size": 4}])
def test_key_file_with_unusable_sizes_gives_one_line(tmp_path, capsys, photos, params):
    path = SchemeKey("le", params, bytes(32)).save(tmp_path / "odd.json")  # sealed, but never made by keygen
    err = cli_error(encrypt(str(path), photos / "a.png", tmp_path / "o.png"), capsys)
    assert f"key file {path} holds unusable sizes" in err and "keygen" in err


@pytest.mark.parametrize("size", ["0", "-1", "100000"])
def test_resize_out_of_range_gives_one_line(tmp_path, capsys, key, photos, size):
    assert f"--resize {size} is out of range" in cli_error(encrypt(key, "--resize", size, photos / "a.png", tmp_path / "o.png"), capsys)


def test_an_unwritable_output_folder_gives_one_line(tmp_path, capsys, key, photos):
    if os.name != "posix" or os.geteuid() == 0:
        pytest.skip("root (or a non-POSIX system) can write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        for output in (locked / "enc", locked / "a.png"):
            source = photos if output.name == "enc" else photos / "a.png"
            assert "cannot write" in cli_error(encrypt(key, source, output), capsys)
        assert "cannot write key file" in cli_error(["keygen", "--scheme", "le", "--out", str(locked / "k.json")], capsys)
    finally:
        locked.chmod(0o700)


def test_a_refused_write_gives_one_line_even_as_root(tmp_path, capsys, key, photos, monkeypatch):
    """The same refusal as above, simulated (root may write anywhere): no traceback, nothing left."""
    from ppbench import files

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked"))

    monkeypatch.setattr(files, "make_staging_dir", refuse)
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    assert "cannot write" in cli_error(encrypt(key, photos, tmp_path / "enc"), capsys)
    assert "cannot write" in cli_error(encrypt(key, photos / "a.png", tmp_path / "a.png"), capsys)
    assert "cannot write key file" in cli_error(["keygen", "--scheme", "le", "--out", str(tmp_path / "k.json")], capsys)
    assert not (tmp_path / "enc").exists() and not (tmp_path / "k.json").exists()


def test_atomic_write_gives_the_usual_mode_unless_told(tmp_path):
    """Reports and records are readable like any file the user makes; only an explicit mode (keys) is private."""
    from ppbench.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.md", "x")
        atomic_write_text(tmp_path / "key.json", "{}", mode=0o600)
    finally:
        os.umask(old)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "key.json").stat().st_mode & 0o777 == 0o600
