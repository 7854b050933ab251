"""ppbench.distributed: DDP training that equals a one-process run with the same global batch.

The sharding is checked in-process (every rank's slices, put together, are exactly the one-process batch,
augmentation included); the whole path is checked by ``torchrun --nproc-per-node 2 -m ppbench run`` on the
CPU with the gloo backend against an in-process run of the same config and key.

Tolerances (why the two runs can differ at all): data, key, initial weights and every random draw of the
pipeline are identical, and vit_smoke has no BatchNorm, dropout or other random layer; only floating-point
summation order differs (each rank reduces over half the batch, then the all-reduce adds the halves, and
the processes use one thread while the reference may use two). That moves losses by ~1e-6 relative per
step, so per-epoch training losses must agree to a relative 1e-3 and the learning rates and step counts
exactly; an accuracy may differ by one image (an arg-max tie that the rounding tips the other way).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ppbench import cli
from ppbench.data import BatchPipeline, crop_padding_for, load_dataset, random_crop_flip
from ppbench.distributed import DistContext, ShardedBatchPipeline, shard_bounds, shard_pipeline
from ppbench.errors import InputError
from ppbench.runner import resolve_config, run, run_dir_for
from ppbench.transforms import resize_uint8



def _pipeline(batch: int, *, image_size: int = 32, augment: bool = True, seed: int = 0) -> BatchPipeline:
    data = load_dataset("sample").subset(96, 50)
    return BatchPipeline(data=data, encrypt=lambda x: 255 - x, image_size=image_size, batch_size=batch,
                         eval_batch_size=16, device=torch.device("cpu"), plain_augment=augment,
                         order=torch.Generator().manual_seed(seed), augment_gen=torch.Generator().manual_seed(seed + 1))


def _ctx(rank: int, world: int) -> DistContext:
    return DistContext(rank=rank, world_size=world, local_rank=rank, backend="gloo", device=torch.device("cpu"))


class TestSharding:
    def test_bounds_cover_every_item_once(self):
        for n in (1, 5, 32, 33):
            for world in (1, 2, 3, 4):
                spans = [shard_bounds(n, r, world) for r in range(world)]
                assert spans[0][0] == 0 and spans[-1][1] == n
                assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))

    @pytest.mark.parametrize("world,image_size", [(2, 32), (3, 32), (2, 48)])
    def test_rank_slices_put_together_are_the_one_process_batches(self, world, image_size):
        single = list(_pipeline(24, image_size=image_size).train_batches())
        shards = [list(shard_pipeline(_pipeline(24, image_size=image_size), _ctx(r, world)).train_batches())
                  for r in range(world)]
        assert all(len(s) == len(single) for s in shards)
        for step, (x, y) in enumerate(single):
            assert torch.equal(torch.cat([s[step][0] for s in shards]), x)
            assert torch.equal(torch.cat([s[step][1] for s in shards]), y)

    def test_generators_advance_as_in_one_process(self):
        single, sharded = _pipeline(24), shard_pipeline(_pipeline(24), _ctx(1, 2))
        list(single.train_batches())
        list(sharded.train_batches())
        assert torch.equal(single.order.get_state(), sharded.order.get_state())
        assert torch.equal(single.augment_gen.get_state(), sharded.augment_gen.get_state())

    def test_slice_augmentation_matches_random_crop_flip(self):
        from ppbench.distributed import _crop_flip_slice

        x = resize_uint8(load_dataset("sample").x_train[:10], 40)
        full = random_crop_flip(x, crop_padding_for(40), torch.Generator().manual_seed(5))
        part = _crop_flip_slice(x[3:7], crop_padding_for(40), torch.Generator().manual_seed(5), 10, 3)
        assert torch.equal(part, full[3:7])

    def test_test_set_is_split_without_overlap(self):
        single = list(_pipeline(24).test_batches())
        shards = [list(shard_pipeline(_pipeline(24), _ctx(r, 3)).test_batches()) for r in range(3)]
        labels = torch.cat([y for s in shards for _, y in s])
        assert len(labels) == 50 and sorted(labels.tolist()) == sorted(torch.cat([y for _, y in single]).tolist())

    def test_a_global_batch_that_does_not_split_evenly_is_refused(self):
        with pytest.raises(InputError, match="multiple of 3"):
            shard_pipeline(_pipeline(32), _ctx(0, 3))

    def test_one_process_keeps_the_pipeline(self):
        pipeline = _pipeline(24)
        assert shard_pipeline(pipeline) is pipeline and not isinstance(pipeline, ShardedBatchPipeline)


# -- the whole path: torchrun, two processes, gloo ----------------------------------------------------------
OPTIONS = dict(scheme="proposed", profile="smoke", n_train=128, n_test=64, batch_size=32, epochs=2, seed=3)


def _flags(options: dict) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]


def _torchrun(options: dict, results: Path, *, cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 -m ppbench run ...`` on the CPU (gloo), one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "ppbench", "run", *_flags(options), "--device", "cpu", "--no-progress", "--results", str(results)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=cwd)


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_ranks_stops_every_rank_with_the_fix(tmp_path):
    done = _torchrun({**OPTIONS, "batch_size": 31}, tmp_path / "ddp", cwd=tmp_path)
    assert done.returncode != 0
    assert "pick --batch-size a multiple of 2" in done.stderr
    assert not list((tmp_path / "ddp").glob("*/result.json"))  # nothing half-written


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process(tmp_path):
    key = tmp_path / "key.json"
    assert cli.main(["keygen", "--scheme", "proposed", "--image-size", "32", "--block-size", "4", "--out", str(key)]) == 0
    options = {**OPTIONS, "key": str(key)}

    done = _torchrun(options, tmp_path / "ddp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    single = run(resolve_config(**options, device="cpu", progress=False, results=str(tmp_path / "one")))
    ddp_dir = run_dir_for(resolve_config(**options, device="cpu", results=str(tmp_path / "ddp")))
    ddp = json.loads((ddp_dir / "result.json").read_text())

    assert ddp["run_id"] == single["run_id"] and ddp["status"] == "complete"
    assert ddp["scheme"]["key_id"] == single["scheme"]["key_id"]
    assert ddp["config"]["derived"]["batch_size_effective"] == 32
    for a, b in zip(ddp["metrics"]["history"], single["metrics"]["history"], strict=True):
        assert (a["epoch"], a["step"]) == (b["epoch"], b["step"])
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-12)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
        assert abs(a["train_accuracy"] - b["train_accuracy"]) <= 1 / 64 + 1e-12  # one of 64 images per epoch
        assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 1 / 64 + 1e-12
    # the same weights after training (checkpoint of rank 0 vs the one-process checkpoint)
    w_ddp = torch.load(ddp_dir / "checkpoint.pt", weights_only=True)["model"]
    w_one = torch.load(run_dir_for(resolve_config(**options, device="cpu", results=str(tmp_path / "one")))
                       / "checkpoint.pt", weights_only=True)["model"]
    assert w_ddp.keys() == w_one.keys()  # saved unwrapped: no "module." prefix
    assert max(float((w_ddp[k].float() - w_one[k].float()).abs().max()) for k in w_ddp) < 1e-3
    # only rank 0 wrote: the folder holds what a one-process run writes
    assert sorted(p.name for p in ddp_dir.iterdir()) == sorted(p.name for p in Path(run_dir_for(resolve_config(
        **options, device="cpu", results=str(tmp_path / "one")))).iterdir())
    assert "DDP: rank 1 of 2 on cpu (gloo)" in done.stderr
    assert "world_size" not in single["config"]["derived"] and ddp["config"]["derived"]["world_size"] == 2

    # the run is complete: adding an attack trains nothing; rank 1 returns at once, rank 0 attacks alone
    again = _torchrun({**options, "attack": "fr"}, tmp_path / "ddp", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    attacked = json.loads((ddp_dir / "result.json").read_text())
    assert "fr" in attacked["metrics"]["attacks"] and attacked["metrics"]["history"] == ddp["metrics"]["history"]
