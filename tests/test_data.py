"""ppbench.data: every data source, its errors, and the paper's order of operations (resize, augment, encrypt)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import pickle
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_subset_path
from ppbench.data import (
    SAMPLE_PATH, BatchPipeline, check_dataset_name, crop_padding_for, data_root, dataset_label, load_dataset,
    random_crop_flip,
)
from ppbench.errors import DataError
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import resize_uint8


# -- helpers ------------------------------------------------------------------------------------------------
def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _fake_cifar10(root: Path, rng: np.random.Generator, per_batch: int = 6) -> dict[str, object]:
    """A tiny CIFAR-10 in its official on-disk format: pickled dicts with ``data`` (N x 3072 uint8, the
    R, G and B planes of each image row-major) and ``labels``, plus ``batches.meta``. Returns what torchvision
    must verify (each file's MD5) and what the loader must return."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch).tolist()
        entry = {"batch_label": name, "labels": y, "data": x.transpose(0, 3, 1, 2).reshape(per_batch, -1)}
        (folder / name).write_bytes(pickle.dumps(entry))
        images[name] = (x, y)
    meta = {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return {"folder": folder, "images": images, "md5": {p.name: _md5(p) for p in folder.iterdir()}}


def _patch_cifar10_checksums(monkeypatch, md5: dict[str, str], url: str | None = None, tgz_md5: str | None = None) -> None:
    """torchvision checks the MD5 of the archive and of every file against constants of the real data set;
    for the tiny fake one we replace only those constants (and the URL), so the download, extraction,
    verification and unpickling all run through torchvision's own code."""
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]})
    if url is not None:
        monkeypatch.setattr(CIFAR10, "url", url)
    if tgz_md5 is not None:
        monkeypatch.setattr(CIFAR10, "tgz_md5", tgz_md5)


def _tarball(src_root: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src_root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return out


@pytest.fixture()
def http_root(tmp_path):
    """A local HTTP server (127.0.0.1, a free port) serving ``tmp_path/server``: torchvision's real download
    code (urllib) fetches from it as from the official site; nothing leaves the machine."""
    root = tmp_path / "server"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_fake_loaded(ds, fake) -> None:
    x_train = np.concatenate([fake["images"][f"data_batch_{i}"][0] for i in range(1, 6)])
    assert ds.x_train.dtype == torch.uint8 and tuple(ds.x_train.shape) == (30, 3, 32, 32)
    assert np.array_equal(ds.x_train.permute(0, 2, 3, 1).numpy(), x_train)
    assert np.array_equal(ds.x_test.permute(0, 2, 3, 1).numpy(), fake["images"]["test_batch"][0])
    assert ds.y_test.tolist() == fake["images"]["test_batch"][1]
    assert ds.classes[0] == "class0" and ds.num_classes == 10


# -- bundled and npz ---------------------------------------------------------------------------------------
class TestSample:
    def test_sample_loads_as_uint8_nchw_in_dataset_order(self):
        ds = load_dataset("sample")
        with np.load(SAMPLE_PATH) as raw:
            first = raw["x_test"][0]
        assert tuple(ds.x_train.shape) == (2000, 3, 32, 32) and tuple(ds.x_test.shape) == (500, 3, 32, 32)
        assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64
        assert np.array_equal(ds.x_test[0].permute(1, 2, 0).numpy(), first)
        assert ds.classes[:2] == ["airplane", "automobile"] and ds.source == "bundled"

    def test_subset_keeps_the_first_images(self):
        ds = load_dataset("sample")
        sub = ds.subset(10, 5)
        assert len(sub.y_train) == 10 and len(sub.y_test) == 5
        assert torch.equal(sub.x_test, ds.x_test[:5])


class TestNpz:
    @pytest.mark.skipif(not shared_subset_path().is_file(),
                        reason=f"the optional shared CIFAR-10 subset is absent ({shared_subset_path()})")
    def test_shared_real_subset_loads(self):
        ds = load_dataset(f"npz:{shared_subset_path()}")
        assert ds.x_train.shape[1:] == (3, 32, 32) and len(ds.y_train) > 2000
        assert ds.name == "npz-cifar10-subset"

    def test_missing_file_is_a_clear_error(self, tmp_path):
        with pytest.raises(DataError, match="not found"):
            load_dataset(f"npz:{tmp_path / 'none.npz'}")

    def test_missing_arrays_are_named(self, tmp_path):
        path = tmp_path / "bad.npz"
        np.savez(path, images=np.zeros((2, 32, 32, 3), np.uint8))
        with pytest.raises(DataError, match="lacks array.*x_train"):
            load_dataset(f"npz:{path}")

    def test_float_images_are_refused(self, tmp_path):
        path = tmp_path / "float.npz"
        x = np.zeros((2, 32, 32, 3), np.float32)
        np.savez(path, x_train=x, y_train=np.zeros(2, int), x_test=x, y_test=np.zeros(2, int))
        with pytest.raises(DataError, match="uint8"):
            load_dataset(f"npz:{path}")

    def test_channels_first_images_are_refused(self, tmp_path):
        path = tmp_path / "nchw.npz"
        x = np.zeros((2, 3, 32, 32), np.uint8)
        np.savez(path, x_train=x, y_train=np.zeros(2, int), x_test=x, y_test=np.zeros(2, int))
        with pytest.raises(DataError, match="channels last"):
            load_dataset(f"npz:{path}")

    def test_label_count_must_match(self, tmp_path):
        path = tmp_path / "labels.npz"
        x = np.zeros((2, 32, 32, 3), np.uint8)
        np.savez(path, x_train=x, y_train=np.zeros(3, int), x_test=x, y_test=np.zeros(2, int))
        with pytest.raises(DataError, match="one label per image"):
            load_dataset(f"npz:{path}")

    def test_truncated_file_is_a_clear_error(self, tmp_path):
        path = tmp_path / "cut.npz"
        path.write_bytes(b"PK\x03\x04 not really a zip")
        with pytest.raises(DataError, match="cannot read"):
            load_dataset(f"npz:{path}")


class TestFolder:
    def _tree(self, root: Path, sizes=((8, 8),)) -> None:
        rng = np.random.default_rng(0)
        for split in ("train", "test"):
            for cls in ("cat", "dog"):
                (root / split / cls).mkdir(parents=True)
                for i, size in enumerate(sizes * 2):
                    arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                    Image.fromarray(arr).save(root / split / cls / f"{i}.png")

    def test_image_folder_trees_load_with_sorted_classes(self, tmp_path):
        self._tree(tmp_path)
        ds = load_dataset(f"folder:{tmp_path}")
        assert ds.classes == ["cat", "dog"] and tuple(ds.x_train.shape) == (4, 3, 8, 8)
        assert ds.y_train.tolist() == [0, 0, 1, 1]

    def test_mixed_image_sizes_are_refused(self, tmp_path):
        self._tree(tmp_path, sizes=((8, 8), (9, 9)))
        with pytest.raises(DataError, match="different sizes"):
            load_dataset(f"folder:{tmp_path}")

    def test_missing_split_is_a_clear_error(self, tmp_path):
        (tmp_path / "train").mkdir()
        with pytest.raises(DataError, match="ImageFolder"):
            load_dataset(f"folder:{tmp_path}")


# -- torchvision CIFAR ---------------------------------------------------------------------------------------
class TestTorchvisionCifar:
    def test_offline_and_not_cached_says_where_to_put_the_tarball(self, tmp_path):
        with pytest.raises(DataError) as err:
            load_dataset("cifar10", root=tmp_path, download=False)
        text = str(err.value)
        assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in text
        assert str(tmp_path / "cifar-10-python.tar.gz") in text and "npz:PATH" in text

    def test_download_runs_through_torchvision_and_verifies_md5(self, tmp_path, monkeypatch, http_root):
        served, base = http_root
        fake = _fake_cifar10(tmp_path / "build", np.random.default_rng(1))
        archive = _tarball(tmp_path / "build", served / "cifar-10-python.tar.gz")
        _patch_cifar10_checksums(monkeypatch, fake["md5"], url=f"{base}/cifar-10-python.tar.gz", tgz_md5=_md5(archive))
        cache = tmp_path / "cache"
        ds = load_dataset("cifar10", root=cache, download=True)
        _check_fake_loaded(ds, fake)
        assert (cache / "cifar-10-python.tar.gz").is_file() and ds.source.startswith("torchvision:")

    def test_download_with_wrong_archive_md5_fails_clearly(self, tmp_path, monkeypatch, http_root):
        served, base = http_root
        fake = _fake_cifar10(tmp_path / "build", np.random.default_rng(2))
        _tarball(tmp_path / "build", served / "cifar-10-python.tar.gz")
        _patch_cifar10_checksums(monkeypatch, fake["md5"], url=f"{base}/cifar-10-python.tar.gz", tgz_md5="0" * 32)
        with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
            load_dataset("cifar10", root=tmp_path / "cache", download=True)

    def test_tarball_placed_in_the_cache_is_used_without_download(self, tmp_path, monkeypatch):
        fake = _fake_cifar10(tmp_path / "build", np.random.default_rng(3))
        cache = tmp_path / "cache"
        cache.mkdir()
        archive = _tarball(tmp_path / "build", cache / "cifar-10-python.tar.gz")
        _patch_cifar10_checksums(monkeypatch, fake["md5"], url=f"http://127.0.0.1:{_free_port()}/x.tar.gz",
                                 tgz_md5=_md5(archive))
        _check_fake_loaded(load_dataset("cifar10", root=cache, download=False), fake)

    def test_unreachable_server_is_a_data_error(self, tmp_path, monkeypatch):
        fake_md5 = {n: "0" * 32 for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]}
        _patch_cifar10_checksums(monkeypatch, fake_md5, url=f"http://127.0.0.1:{_free_port()}/cifar.tar.gz")
        with pytest.raises(DataError, match="download failed"):
            load_dataset("cifar10", root=tmp_path / "cache", download=True)

    def test_cache_folder_follows_ppbench_data(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PPBENCH_DATA", str(tmp_path))
        assert data_root() == tmp_path
        assert data_root(tmp_path / "x") == tmp_path / "x"


class TestNames:
    @pytest.mark.parametrize("name", ["cifar10", "CIFAR100", "sample", "npz:/a/b.npz", "folder:/x"])
    def test_known_forms_pass(self, name):
        assert check_dataset_name(name)

    def test_typo_suggests_close_name(self):
        with pytest.raises(DataError, match="Did you mean 'cifar10'"):
            check_dataset_name("cifar1O")

    def test_shared_is_not_a_dataset_but_hints_npz(self):
        with pytest.raises(DataError, match="npz:PATH/TO/cifar10-subset.npz"):
            check_dataset_name("shared")

    def test_labels_are_file_name_safe(self):
        assert dataset_label("npz:/x/my data.npz") == "npz-my-data"
        assert dataset_label("cifar10") == "cifar10"


# -- augmentation and the batch pipeline ---------------------------------------------------------------------
def _naive_crop_flip(x: torch.Tensor, padding: int, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    out = []
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    h, w = x.shape[-2:]
    for i in range(len(x)):
        oy, ox = offsets[i].tolist()
        crop = padded[i, :, oy:oy + h, ox:ox + w]
        out.append(crop.flip(-1) if flips[i] else crop)
    return torch.stack(out)


class TestAugmentation:
    def test_crop_and_flip_match_a_per_image_reference(self):
        x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
        gen = torch.Generator().manual_seed(5)
        state = gen.get_state()
        got = random_crop_flip(x, 4, gen)
        gen.set_state(state)
        offsets = torch.randint(0, 9, (16, 2), generator=gen)
        flips = torch.rand(16, generator=gen) < 0.5
        assert torch.equal(got, _naive_crop_flip(x, 4, offsets, flips))
        assert got.dtype == torch.uint8 and flips.any() and not flips.all()

    def test_same_seed_gives_same_augmentation(self):
        x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        a = random_crop_flip(x, 4, torch.Generator().manual_seed(1))
        b = random_crop_flip(x, 4, torch.Generator().manual_seed(1))
        assert torch.equal(a, b)

    def test_padding_scales_with_image_size(self):
        assert crop_padding_for(32) == 4 and crop_padding_for(224) == 28


def _pipeline(data, scheme, *, augment: bool, size: int = 32, batch: int = 8) -> BatchPipeline:
    return BatchPipeline(data=data, encrypt=scheme.encrypt, image_size=size, batch_size=batch, eval_batch_size=5,
                         device=torch.device("cpu"), plain_augment=augment, order=torch.Generator().manual_seed(0),
                         augment_gen=torch.Generator().manual_seed(1))


class TestBatchPipeline:
    def test_test_batches_are_resized_then_encrypted_in_order(self):
        data = load_dataset("sample").subset(16, 12)
        scheme = create_scheme("proposed", key=generate_key("proposed", image_size=64, block_size=8))
        xs, ys = zip(*_pipeline(data, scheme, augment=False, size=64).test_batches())
        expected = scheme.encrypt(resize_uint8(data.x_test, 64)).float() / 255
        assert torch.equal(torch.cat(xs), expected) and torch.equal(torch.cat(ys), data.y_test)

    def test_without_augmentation_training_sees_encrypted_originals(self):
        data = load_dataset("sample").subset(16, 4)
        scheme = create_scheme("pe", key=generate_key("pe", image_size=32))
        pipe = _pipeline(data, scheme, augment=False)
        perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
        x, y = next(pipe.train_batches())
        assert torch.equal(x, scheme.encrypt(data.x_train[perm[:8]]).float() / 255)
        assert torch.equal(y, data.y_train[perm[:8]])

    def test_augmentation_happens_before_encryption(self):
        data = load_dataset("sample").subset(16, 4)
        scheme = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=4))
        x, _ = next(_pipeline(data, scheme, augment=True).train_batches())
        perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
        plain_aug = random_crop_flip(data.x_train[perm[:8]], 4, torch.Generator().manual_seed(1))
        assert torch.equal(x, scheme.encrypt(plain_aug).float() / 255)

    def test_last_partial_batch_is_dropped(self):
        data = load_dataset("sample").subset(20, 4)
        pipe = _pipeline(data, create_scheme("plain"), augment=False)
        assert pipe.steps_per_epoch == 2 and len(list(pipe.train_batches())) == 2
