"""Model encryption for ``proposed``: a plain ViT turned into one that reads encrypted images with the
same logits, and the key read back off the two models' weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from ppbench.errors import InputError
from ppbench.model_transform import block_pixel_source, recover_key_from_models, transform_model
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw


def small_vit(patch: int = 4, size: int = 32) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(img_size=size, patch_size=patch, embed_dim=64, depth=2, num_heads=2, num_classes=10).eval()


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x.float() / 255 - 0.5) / 0.5


@pytest.fixture(scope="module")
def images(cifar_subset) -> torch.Tensor:
    return nhwc_to_nchw(cifar_subset["x_test"][:16])


@pytest.mark.parametrize("patch", [4, 8])
def test_transformed_model_gives_the_plain_logits_on_encrypted_images(patch, images):
    model = small_vit(patch)
    scheme = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=patch))
    encrypted_model = transform_model(model, scheme)
    with torch.no_grad():
        plain_logits = model(normalise(images))
        encrypted_logits = encrypted_model(normalise(scheme.encrypt(images)))
        untouched = model(normalise(scheme.encrypt(images)))
    assert torch.allclose(encrypted_logits, plain_logits, atol=1e-5, rtol=0)
    assert (untouched - plain_logits).abs().max() > 1e-3  # the encryption does matter to the plain model


def test_transform_copies_and_accepts_key_material(images):
    model = small_vit()
    scheme = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    encrypted_model = transform_model(model, scheme.key_material())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(encrypted_model.cls_token, model.cls_token)
    assert torch.equal(encrypted_model.pos_embed[:, 0], model.pos_embed[:, 0])  # the class token's row stays


@pytest.mark.parametrize("patch", [4, 8])
def test_weights_give_the_key_back_exactly(patch):
    model = small_vit(patch)
    scheme = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=patch))
    recovered = recover_key_from_models(model, transform_model(model, scheme))
    assert set(recovered) == {"k1", "k2"}
    for name, value in scheme.key_material().items():
        assert np.array_equal(recovered[name], value), name


def test_key_survives_small_weight_perturbations():
    model = small_vit()
    scheme = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=4))
    encrypted_model = transform_model(model, scheme)
    with torch.no_grad():  # a little fine-tuning noise after the transformation
        generator = torch.Generator().manual_seed(1)
        for param in encrypted_model.parameters():
            param.add_(1e-3 * torch.randn(param.shape, generator=generator))
    recovered = recover_key_from_models(model, encrypted_model)
    assert all(np.array_equal(recovered[k], v) for k, v in scheme.key_material().items())


def test_block_pixel_source_follows_the_scheme(images):
    scheme = create_scheme("proposed", key=generate_key("proposed", image_size=8, block_size=8))
    scheme = create_scheme("proposed", key_material={"k1": np.array([0]), "k2": scheme.key_material()["k2"]},
                           image_size=8, block_size=8)
    x = images[:2, :, :8, :8]
    src = torch.from_numpy(block_pixel_source(scheme.key_material()["k2"], 8))
    expected = x.reshape(2, 3, 64)[:, :, src].reshape(2, 3, 8, 8)
    assert torch.equal(scheme.encrypt(x), expected)


def test_refuses_other_schemes_and_mismatched_keys():
    model = small_vit()
    le = create_scheme("le", key=generate_key("le", image_size=32, block_size=4))
    with pytest.raises(InputError, match="proposed"):
        transform_model(model, le)
    wrong = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=8))
    with pytest.raises(InputError):
        transform_model(model, wrong)
    with pytest.raises(InputError, match="ViT"):
        transform_model(torch.nn.Linear(2, 2), {"k1": np.arange(64), "k2": np.arange(4)})


def test_unrelated_models_are_not_mistaken_for_twins():
    model, other = small_vit(), VisionTransformer(img_size=32, patch_size=4, embed_dim=64, depth=2, num_heads=2, num_classes=10)
    with pytest.raises(InputError):
        recover_key_from_models(model, other)
