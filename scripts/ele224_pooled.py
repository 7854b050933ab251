"""One ciphertext-only fit of ``pooled`` against ELE at 224 x 224 / M16 (CIFAR upscaled), one fresh key.

    python scripts/ele224_pooled.py N          # N ciphertexts (multiple of 50), prints one JSON line

The in-run curve is too slow here (196 block positions x LE's 768-item solver, ~15 minutes per fit on a
CPU thread), so docs/benchmarks.md records single fits made with this script. Reads the bundled
sample, or the optional larger CIFAR-10 subset ``$PPBENCH_SHARED/data/cifar10-subset.npz`` when that is
set and present (it begins with the sample's images, so N <= 2000 gives the same pixels either way), and
scores 50 unseen test images.
"""
import json
import os
import sys
import time

import torch

from ppbench.data import load_dataset
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import resize_uint8
from ppbench.attacks.pooled import recover_key_pooled
from ppbench.attacks.kpa import same_key, key_agreement
from ppbench.metrics import ssim
n = int(sys.argv[1])
torch.set_num_threads(1)
subset = os.path.join(os.environ.get("PPBENCH_SHARED", ""), "data", "cifar10-subset.npz")
ds = load_dataset(f"npz:{subset}" if os.environ.get("PPBENCH_SHARED") and os.path.isfile(subset) else "sample")
sch = create_scheme("ele", key=generate_key("ele", image_size=224, block_size=16))
y = torch.cat([sch.encrypt(resize_uint8(ds.x_train[i:i + 50], 224)) for i in range(0, n, 50)])
t = time.perf_counter()
rec = recover_key_pooled("ele", y, block_size=16)
seconds = time.perf_counter() - t
test = resize_uint8(ds.x_test[:50], 224)
rebuilt = create_scheme("ele", key_material=rec.key_material, image_size=(224, 224), block_size=16)
restored = rebuilt.decrypt(sch.encrypt(test))
out = {"n": n, "seconds": seconds, "exact": bool(same_key(rec.key_material, sch.key_material())),
       "agreement": key_agreement(rec.key_material, sch.key_material()), "confidence": rec.confidence,
       "ssim_unseen_50": float(ssim(restored, test).mean()), "torch": torch.__version__}
print(json.dumps(out))
