"""``scripts/trim_restored.py``: a study's restored-image files cut to their first K images, nothing else touched."""

from __future__ import annotations

import numpy as np

from ppbench.npzfile import read_npz


def test_only_the_first_k_images_stay_and_a_short_file_is_left_alone(tmp_path, load_script):
    attacks = tmp_path / "run" / "attacks"
    attacks.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {"restored": rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8), "ssim": rng.random(10),
              "index": np.arange(10), "plain": rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)}
    np.savez(attacks / "fr_restored.npz", **arrays)
    (attacks / "fr_ssim.csv").write_text("index,ssim\n")
    script = load_script("trim_restored")
    assert script.main([str(tmp_path), "--keep", "3"]) == 0
    kept = read_npz(attacks / "fr_restored.npz")
    for name, array in arrays.items():
        np.testing.assert_array_equal(kept[name], array[:3])
    before = (attacks / "fr_restored.npz").read_bytes()
    assert not script.trim(attacks / "fr_restored.npz", 3)
    assert (attacks / "fr_restored.npz").read_bytes() == before
    assert (attacks / "fr_ssim.csv").read_text() == "index,ssim\n"
