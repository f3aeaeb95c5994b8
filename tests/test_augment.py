"""Training-image augmentation (engine/augment.py): distorts training episodes only, deterministically."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine import tasks as tasks_module
from engine.augment import random_affine
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig
from engine.events import ValidationMetrics
from engine.tasks import TaskSampler
from engine.trainer import RunControl, run


def own_correlation(distorted: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Each distorted image's correlation with its own original, after a blur (so that a stroke moved
    by a pixel or two still overlaps itself)."""
    def blurred_unit(x: torch.Tensor) -> torch.Tensor:
        flat = F.avg_pool2d(x, 5, stride=1, padding=2).flatten(1)
        flat = flat - flat.mean(1, keepdim=True)
        return flat / flat.norm(dim=1, keepdim=True)

    return (blurred_unit(distorted) * blurred_unit(originals)).sum(1)


def test_augmented_episodes_are_small_deterministic_distortions_of_the_same_episode(small_glyph_pool):
    plain = TaskSampler(small_glyph_pool, "train", 5, 2, 3, seed=3)
    jittered = TaskSampler(small_glyph_pool, "train", 5, 2, 3, seed=3, augment=True)
    again = TaskSampler(small_glyph_pool, "train", 5, 2, 3, seed=3, augment=True)
    for i in range(4):
        p, j, k = plain.episode(i), jittered.episode(i), again.episode(i)
        # the same classes, images and labels, only distorted
        assert p.classes == j.classes
        assert torch.equal(p.support_y, j.support_y) and torch.equal(p.query_y, j.query_y)
        for x, y, z in ((p.support_x, j.support_x, k.support_x), (p.query_x, j.query_x, k.query_x)):
            assert y.shape == x.shape and y.dtype == x.dtype
            assert 0.0 <= y.min() and y.max() <= 1.0
            assert torch.equal(y, z), "a distortion must be a pure function of the episode (resumed runs)"
            assert not torch.equal(y, x)
            # small: each image still looks like its original (a 90-degree turn, a flip or a 6-pixel shift: mean < 0.5)
            own = own_correlation(y, x)
            assert own.min() > 0.5 and own.mean() > 0.75
    assert not torch.equal(jittered.episode(0).query_x, jittered.episode(1).query_x)


def test_each_image_gets_its_own_distortion():
    image = torch.zeros(1, 1, 28, 28)
    image[..., 10:18, 12:16] = 1.0
    out = random_affine(image.expand(6, -1, -1, -1).contiguous(), torch.Generator().manual_seed(0))
    assert len({bytes(o.numpy()) for o in out}) == 6
    # the mass of the glyph stays roughly where it was (no flips, no large moves)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), image.sum().expand(6), rtol=0.35)


def test_a_run_distorts_training_episodes_only(small_glyph_pool, monkeypatch):
    calls: list[int] = []

    def spy(images, generator, *args):
        calls.append(len(images))
        return random_affine(images, generator, *args)

    monkeypatch.setattr(tasks_module, "random_affine", spy)
    config = TrainConfig(algo="protonet", ways=3, shots=1, queries=2, meta_batch=2, iterations=2, val_every=2,
                         val_episodes=3, workers=1, augment=True)
    events = list(run(config, RunControl(), pool=small_glyph_pool))
    assert any(isinstance(e, ValidationMetrics) for e in events)
    # support + query of each of the 2 x 2 training tasks; none for the 3 validation episodes
    assert calls == [3, 6] * 4
    calls.clear()
    list(run(config.replace(augment=False), RunControl(), pool=small_glyph_pool))
    assert calls == []


def test_cli_flag_and_default():
    assert TrainConfig().augment is False
    parse = build_parser().parse_args
    assert _config_from_args(parse(["train", "--augment"])).augment is True
    assert _config_from_args(parse(["train"])).augment is False


def test_the_app_offers_it_and_remembers_it(make_window):
    window = make_window()
    panel = window.algorithm_panel
    assert panel.values()["augment"] is False and panel.augment_check.toolTip()
    panel.augment_check.setChecked(True)
    assert panel.values()["augment"] is True
    panel.set_values({**panel.values(), "augment": False})
    assert not panel.augment_check.isChecked()


def test_strength_scales_the_distortion_and_defaults_to_the_original_maps():
    image = torch.zeros(8, 1, 28, 28)
    image[:, :, 8:20, 12:15] = 1.0
    default = random_affine(image, torch.Generator().manual_seed(5))
    assert torch.equal(random_affine(image, torch.Generator().manual_seed(5), 1.0, 0.0), default)
    # strength 0: every map is the identity, the images come back as they were
    assert torch.allclose(random_affine(image, torch.Generator().manual_seed(5), 0.0), image, atol=1e-5)
    # stronger maps move the strokes further from where they were
    mild = own_correlation(default, image).mean()
    strong = own_correlation(random_affine(image, torch.Generator().manual_seed(5), 2.5), image).mean()
    assert strong < mild < 1.0


def test_elastic_wobble_is_smooth_local_and_deterministic():
    image = torch.zeros(6, 1, 28, 28)
    image[:, :, 4:24, 13:15] = 1.0  # a vertical stroke
    wobble = lambda amount: random_affine(image, torch.Generator().manual_seed(2), 0.0, amount)  # noqa: E731
    bent = wobble(0.1)
    assert torch.equal(bent, wobble(0.1))
    assert not torch.allclose(bent, image, atol=1e-3)
    # the stroke is bent, not torn up or moved away: it still overlaps itself after a blur
    own = own_correlation(bent, image)
    assert own.min() > 0.5
    assert own_correlation(wobble(0.3), image).mean() < own.mean()


def test_strength_and_elastic_reach_the_training_episodes(small_glyph_pool):
    plain = TaskSampler(small_glyph_pool, "train", 5, 1, 2, seed=1, augment=True)
    strong = TaskSampler(small_glyph_pool, "train", 5, 1, 2, seed=1, augment=True, strength=2.0, elastic=0.08)
    a, b = plain.episode(0), strong.episode(0)
    assert a.classes == b.classes and not torch.equal(a.query_x, b.query_x)
    parse = build_parser().parse_args
    config = _config_from_args(parse(["train", "--augment", "--augment-strength", "2", "--augment-elastic", "0.08"]))
    assert (config.augment_strength, config.augment_elastic) == (2.0, 0.08)
