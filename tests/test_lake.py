"""The lake recipe's parts (Lake's one-shot challenge from a minimal background set, issue #18): pen-width
augmentation, test-time views, larger images, training on every class, and the recipe end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from PIL import Image
from test_challenge import build_runs

from engine.algorithms import AlgoConfig
from engine.algorithms.simpleshot import SimpleShot
from engine.augment import augment_views, random_stroke_width
from engine.config import TrainConfig, from_recipe
from engine.data.base import DataError
from engine.events import Started
from engine.framing import BothFramings, MomentFraming
from engine.models import Conv4, build_backbone, input_size
from engine.trainer import restore, run

ALPHABETS, CHARACTERS = 5, 4


def minimal_set(pool, folder: Path) -> Path:
    """``images_background_small1.zip`` in Omniglot's layout (ALPHABET/characterNN/*.png, 105x105 dark ink on
    white) from the first ALPHABETS x CHARACTERS classes of ``pool``, every example of each."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "images_background_small1.zip", "w") as zf:
        for c in range(ALPHABETS * CHARACTERS):
            a, k = divmod(c, CHARACTERS)
            for i, index in enumerate(pool.members(c).tolist()):
                png = Image.fromarray(255 - pool.images[index].numpy(), mode="L").resize((105, 105))
                name = f"images_background_small1/Alphabet{a}/character{k + 1:02d}/{c:04d}_{i:02d}.png"
                with zf.open(name, "w") as f:
                    png.save(f, format="PNG")
    return folder


def test_pen_width_jitter_thins_thickens_or_keeps_each_image_deterministically():
    image = torch.zeros(1, 1, 28, 28)
    image[..., 10:13, 4:24] = 1.0  # a bar 3 pixels thick
    batch = image.repeat(30, 1, 1, 1)
    out = random_stroke_width(batch, torch.Generator().manual_seed(0))
    ink = out.flatten(1).sum(1)
    assert {"thinner", "same", "thicker"} == {"thinner" if v < 60 else "thicker" if v > 60 else "same" for v in ink}
    assert torch.equal(out, random_stroke_width(batch, torch.Generator().manual_seed(0)))


def test_test_time_views_are_distorted_copies_fixed_by_the_seed_whatever_the_batch():
    images = torch.rand(3, 1, 28, 28)
    views = augment_views(images, 4, seed=0, strokes=True)
    assert views.shape == (4, 3, 1, 28, 28)
    assert torch.equal(views, augment_views(images, 4, seed=0, strokes=True))
    assert not torch.allclose(views[0], images) and not torch.allclose(views[0], views[1])
    # an image's views are the same alone as in a batch (so a query's score cannot depend on its neighbours)
    assert torch.allclose(augment_views(images[2:], 4, seed=0, strokes=True)[:, 0], views[:, 2], atol=1e-6)


def test_a_larger_conv4_takes_its_own_size_and_the_windows_28x28():
    torch.manual_seed(0)
    net = Conv4(ways=5, image_size=56)
    assert input_size(net) == 56 and input_size(Conv4()) == 28
    big = torch.rand(2, 1, 56, 56)
    assert net.features(big).shape == (2, 64 * 3 * 3) and net(big).shape == (2, 5)
    small = torch.rand(2, 1, 28, 28)  # a drawing from the window: resized to the network's side first
    expected = net.features(F.interpolate(small, size=(56, 56), mode="bilinear", align_corners=False))
    assert torch.allclose(net.features(small), expected)
    with pytest.raises(ValueError, match="28x28"):
        build_backbone("seed", 5, 56)


@pytest.mark.parametrize("changes, message", [
    ({"image_size": 56}, "needs Omniglot"),
    ({"dataset": "omniglot", "image_size": 20}, "28 to 105"),
    ({"train_on": "all"}, "--val-every 0"),
    ({"train_on": "everything", "val_every": 0}, "unknown train-on"),
    ({"tta": -1}, "tta must be"),
])
def test_settings_that_cannot_work_are_refused_with_the_fix(changes, message):
    with pytest.raises(DataError, match=message):
        TrainConfig(**changes).validate()


def test_test_time_views_change_the_class_means_and_keep_scoring_inductive(small_glyph_pool):
    torch.manual_seed(0)
    algo = SimpleShot(Conv4(), AlgoConfig(tta=4))
    classes = small_glyph_pool.split_classes("test")[:5]
    support = torch.stack([small_glyph_pool.images[small_glyph_pool.members(c)[0]] for c in classes])
    queries = torch.stack([small_glyph_pool.images[small_glyph_pool.members(c)[1]] for c in classes])
    support_x, query_x = support[:, None].float() / 255, queries[:, None].float() / 255
    labels = torch.arange(5)
    learner = algo.adapt(support_x, labels)
    with torch.no_grad():
        together = learner.logits(query_x)
        alone = torch.cat([learner.logits(query_x[i : i + 1]) for i in range(5)])
        again = algo.adapt(support_x, labels).logits(query_x)
        plain = SimpleShot(algo.model, AlgoConfig()).adapt(support_x, labels).logits(query_x)
    assert torch.allclose(together, alone, atol=1e-5)  # a query's score depends on the support set and itself
    assert torch.equal(together, again)  # the views are a pure function of the support set
    assert not torch.allclose(together, plain, atol=1e-3)  # and they matter


def test_a_run_asking_for_larger_images_decodes_omniglot_again(small_glyph_pool, tmp_path):
    root = minimal_set(small_glyph_pool, tmp_path / "data")
    config = TrainConfig(dataset="omniglot", data_root=str(root), algo="simpleshot", ways=8, queries=1,
                         meta_batch=1, iterations=1, val_every=0, image_size=56, train_on="all", device="cpu")
    events = list(run(config, pool=small_glyph_pool))  # the window's pool is 28x28 glyphs: not what was asked
    started = next(e for e in events if isinstance(e, Started))
    # every class (and its rotations) trains
    assert started.data_summary["train"]["classes"] == ALPHABETS * CHARACTERS * 4
    assert started.data_summary["val"]["classes"] == 0


def _ink_box(image: torch.Tensor) -> tuple[int, int, float, float]:
    """(height, width, centre row, centre column) of the ink in a uint8 image."""
    rows = torch.nonzero((image > 25).any(1)).flatten()
    cols = torch.nonzero((image > 25).any(0)).flatten()
    return (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1),
            float(rows[0] + rows[-1]) / 2, float(cols[0] + cols[-1]) / 2)


def test_framing_crops_each_drawing_to_its_ink_in_training_and_in_lakes_runs(small_glyph_pool, tmp_path):
    from engine.challenge import load_runs
    from engine.data import load_source
    from engine.data.images import FRAME_FILL, frame_ink, image_to_tensor

    paper = torch.zeros(105, 105)
    paper[5:25, 70:80] = 1.0  # a small mark near a corner: 20 rows by 10 columns
    framed = torch.from_numpy(frame_ink(paper.numpy()))
    h, w, cy, cx = _ink_box((framed * 255).to(torch.uint8))
    assert framed.shape == (25, 25) and (h, w) == (20, 10) and abs(cy - 12) <= 0.5 and abs(cx - 12) <= 0.5
    assert not frame_ink(torch.zeros(9, 9).numpy()).any()  # a blank page stays blank
    image = Image.fromarray(((1 - paper.numpy()) * 255).astype("uint8"), mode="L")  # dark ink on white paper
    h, w, cy, cx = _ink_box(image_to_tensor(image, invert=True, frame=True))
    assert abs(h - FRAME_FILL * 28) <= 1 and abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    assert _ink_box(image_to_tensor(image, invert=True))[2] < 5  # unframed, it stays in its corner

    root = minimal_set(small_glyph_pool, tmp_path / "data")
    plain, pool = load_source("omniglot", root), load_source("omniglot", root, frame=True)
    assert pool.framed and not plain.framed and pool.with_splits({"train": [0]}).framed
    assert load_source("omniglot", root, frame=True).framed  # read back from the decode cache, still framed
    assert not torch.equal(plain.images, pool.images)
    with pytest.raises(DataError, match="framed"):
        load_source("synthetic", frame=True)
    glyphs = TrainConfig(frame_ink=True)  # (the lake recipe with the built-in glyphs: used as they are)
    assert not glyphs.frames_ink and not glyphs.algo_config().frame_ink
    config = TrainConfig(dataset="omniglot", data_root=str(root), algo="simpleshot", ways=8, queries=1,
                         meta_batch=1, iterations=1, val_every=0, frame_ink=True, train_on="all", device="cpu")
    started = next(e for e in run(config, pool=plain) if isinstance(e, Started))  # the window's unframed pool
    assert started.data_summary["train"]["classes"] == ALPHABETS * CHARACTERS * 4  # decoded again, framed

    build_runs(small_glyph_pool, tmp_path / "runs")
    as_drawn, as_trained = load_runs(tmp_path / "runs"), load_runs(tmp_path / "runs", frame=True)
    for run_ in as_trained:  # every drawing of a run centred in the frame, whatever its place on the page
        for x in (*run_.support_x, *run_.query_x):
            _, _, cy, cx = _ink_box((x[0] * 255).to(torch.uint8))
            assert abs(cy - 13.5) <= 1.5 and abs(cx - 13.5) <= 1.5
    assert not torch.equal(as_drawn[0].support_x, as_trained[0].support_x)


def test_a_stretched_frame_gives_a_wide_drawing_more_rows_and_keeps_its_own_decode_cache(small_glyph_pool,
                                                                                         tmp_path):
    from engine.cli import _config_from_args, build_parser
    from engine.data import load_source
    from engine.data.images import frame_ink
    from engine.predict import framing

    def box(page: torch.Tensor, stretch: float) -> tuple[int, int]:
        return _ink_box((torch.from_numpy(frame_ink(page.numpy(), stretch=stretch)) * 255).to(torch.uint8))[:2]

    wide, tall, square = torch.zeros(105, 105), torch.zeros(105, 105), torch.zeros(105, 105)
    wide[40:50, 10:50], tall[10:90, 40:60], square[20:40, 20:40] = 1.0, 1.0, 1.0  # 10x40, 80x20, 20x20
    assert box(wide, 1.0) == (10, 40) and box(wide, 2.0) == (20, 40) and box(wide, 4.0) == (40, 40)
    assert box(tall, 1.5) == (80, 30) and box(tall, 4.0) == (80, 80) and box(square, 3.0) == (20, 20)

    root = minimal_set(small_glyph_pool, tmp_path / "data")
    framed, stretched = load_source("omniglot", root, frame=True), load_source("omniglot", root, frame=2.0)
    assert (framed.framed, stretched.framed) == (1.0, 2.0) and not torch.equal(framed.images, stretched.images)
    again = load_source("omniglot", root, frame=True)  # from the decode cache: the framed pool, not the stretched
    assert again.framed == 1.0 and torch.equal(again.images, framed.images)

    config = TrainConfig(dataset="omniglot", frame_ink=True, frame_stretch=2.0)
    assert config.frames_ink == config.algo_config().frame_ink == 2.0
    assert TrainConfig(dataset="omniglot", frame_stretch=2.0).frames_ink == 0  # only with frame_ink
    with pytest.raises(DataError, match="frame stretch"):
        TrainConfig(frame_stretch=0.5).validate()
    parsed = _config_from_args(build_parser().parse_args(
        ["train", "--dataset", "omniglot", "--frame-ink", "--frame-stretch", "2"]))
    assert parsed.frame_stretch == 2.0 and parsed.frames_ink == 2.0
    assert framing({"frame_ink": True}) == 1.0 and framing({"frame_ink": False}) == 0.0  # exports before stretch


def test_framing_by_moments_centres_the_inks_mass_and_moves_less_than_the_box_when_a_part_is_added(
        small_glyph_pool, tmp_path):
    """A drawer who adds a small part at a character's edge grows its ink box, which moves and shrinks the whole
    character in a box-framed image; framed by the ink's moments, the character moves by the part's share of the
    ink. The framing keeps its own decode cache, travels in the config and is refused without frame_ink."""
    from engine.cli import _config_from_args, build_parser
    from engine.data import load_source
    from engine.data.images import MOMENT_SPREAD, frame_moments, image_to_tensor
    from engine.predict import framing

    page = torch.zeros(105, 105)
    page[30:70, 20:40] = 1.0  # a post, 40 rows by 20 columns, off the page's centre
    framed = frame_moments(page.numpy())
    side = framed.shape[0]
    assert side == int(math.ceil(2 * MOMENT_SPREAD * 40 / math.sqrt(12)))  # the rows' spread to the edge
    h, w, cy, cx = _ink_box((torch.from_numpy(framed) * 255).to(torch.uint8))
    assert (h, w) == (40, 20) and abs(cy - (side - 1) / 2) <= 1 and abs(cx - (side - 1) / 2) <= 1
    stretched = frame_moments(page.numpy(), stretch=2.0)  # the narrow side widened, as the box's stretch does
    h, w = _ink_box((torch.from_numpy(stretched) * 255).to(torch.uint8))[:2]
    assert h == 40 and abs(w - 40) <= 2  # (bilinear resampling blurs a pixel onto each edge)
    assert not frame_moments(torch.zeros(9, 9).numpy()).any()  # a blank page stays blank

    def post(with_part: bool, moments: bool) -> tuple[int, int, float, float]:
        drawn = page.clone()
        if with_part:
            drawn[85:88, 90:93] = 1.0  # a small mark far from the post: 9 pixels of its 809
        image = Image.fromarray(((1 - drawn.numpy()) * 255).astype("uint8"), mode="L")
        framed = image_to_tensor(image, invert=True, frame=MomentFraming(1.0) if moments else 1.0)
        return _ink_box(framed[:, :14])  # the post's box (it stays in the left half)

    box_moved = [abs(a - b) for a, b in zip(post(False, False), post(True, False))]
    moments_moved = [abs(a - b) for a, b in zip(post(False, True), post(True, True))]
    assert box_moved[0] >= 6 and max(moments_moved) <= 1  # the box shrinks the post by 40%, the moments by a row

    root = minimal_set(small_glyph_pool, tmp_path / "data")
    boxed, by_moments = load_source("omniglot", root, frame=2.0), load_source("omniglot", root,
                                                                             frame=MomentFraming(2.0))
    assert by_moments.framed == MomentFraming(2.0) and not torch.equal(boxed.images, by_moments.images)
    again = load_source("omniglot", root, frame=MomentFraming(2.0))  # from the decode cache, still by moments
    assert again.framed == MomentFraming(2.0) and torch.equal(again.images, by_moments.images)
    assert load_source("omniglot", root, frame=2.0).framed == 2.0  # and the box's pool is still the box's

    config = TrainConfig(dataset="omniglot", frame_ink=True, frame_stretch=2.0, frame_moments=True)
    assert config.frames_ink == config.algo_config().frame_ink == MomentFraming(2.0)
    assert TrainConfig(dataset="omniglot", frame_ink=True).frames_ink == 1.0  # the box, as before
    with pytest.raises(DataError, match="frame_ink"):
        TrainConfig(dataset="omniglot", frame_moments=True).validate()
    parsed = _config_from_args(build_parser().parse_args(
        ["train", "--dataset", "omniglot", "--frame-ink", "--frame-moments"]))
    assert parsed.frame_moments and parsed.frames_ink == MomentFraming(1.0)
    assert framing({"frame_ink": True, "frame_stretch": 2.0, "frame_by": "moments"}) == MomentFraming(2.0)


def test_the_lake_recipe_trains_and_scores_lakes_runs_with_no_extra_flags(small_glyph_pool, tmp_path):
    root = minimal_set(small_glyph_pool, tmp_path / "data")
    runs = tmp_path / "runs"
    build_runs(small_glyph_pool, runs)
    ckpt = tmp_path / "lake.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def main(*args: str) -> dict:
        done = subprocess.run([sys.executable, "main.py", *args, "--json"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    trained = main("train", "--recipe", "lake", "--dataset", "omniglot", "--data-root", str(root),
                   "--iterations", "3", "--checkpoint", str(ckpt))
    assert trained["iterations"] == 3 and trained["checkpoint"] == str(ckpt)
    algo, config, _ = restore(str(ckpt))
    expected = from_recipe("lake")
    assert (config.image_size, config.tta, config.train_on) == (expected.image_size, expected.tta, "all")
    assert (config.mirrors, config.augment_strength, config.lr_decay) == (True, expected.augment_strength, True)
    assert config.frame_ink and algo.config.frame_ink  # its drawings, and so Lake's runs when scored, are framed
    assert config.frame_moments and expected.frame_moments  # by the ink's centre and spread, and by its box:
    assert config.frame_both and algo.config.frame_ink == BothFramings(expected.frame_stretch)  # read both ways
    assert expected.frame_stretch > 1  # stretched
    assert input_size(algo.model) == expected.image_size and algo.config.tta == expected.tta
    assert expected.local_match and algo.config.local_match  # Lake's runs are scored with the places matched
    assert expected.local_levels == algo.config.local_levels == 2  # on the finer map as well
    assert config.episode_loss == algo.config.episode_loss == expected.episode_loss > 0  # each batch an episode
    assert config.same_alphabet and expected.same_alphabet  # of one alphabet, as a Lake run is
    widths = {m.out_channels for m in algo.model.modules() if isinstance(m, torch.nn.Conv2d)}
    assert config.channels == expected.channels > 64 and widths == {expected.channels}  # the wider network
    scored = main("omniglot-challenge", "--checkpoint", str(ckpt), "--runs", str(runs))
    assert scored["runs"] == 2 and 0.0 <= scored["error_rate"] <= 1.0 and scored["protocol"] == "inductive"


def test_picking_the_lake_recipe_in_the_window_brings_its_other_settings(qtbot):
    from engine.api import load_engine
    from gui.algorithm_panel import AlgorithmPanel

    info = load_engine()
    panel = AlgorithmPanel(info.defaults, info.algorithms, info.backbones, False, shapes=info.shapes,
                           recipes=info.recipes)
    qtbot.addWidget(panel)
    quick_note = "adaptation steps refine the last block too"
    assert panel.values()["image_size"] == 28 and panel.recipe_note.text() == f"Also: {quick_note}"
    panel._on_recipe_chosen(panel.recipe_combo.findData("lake"))
    values, lake = panel.values(), from_recipe("lake")
    assert (values["image_size"], values["tta"], values["train_on"], values["augment_strokes"]) == (
        lake.image_size, lake.tta, lake.train_on, lake.augment_strokes)
    assert values["time_budget"] == lake.time_budget and values["val_every"] == 0
    assert values["iterations"] == lake.iterations < 1_000_000  # it stops at its steps; the budget is a cap
    assert values["episode_loss"] == lake.episode_loss > 0 and "each batch also scored as an episode" in (
        panel.recipe_note.text())
    assert values["same_alphabet"] and "batches within one alphabet" in panel.recipe_note.text()
    assert (values["mirrors"], values["augment_strength"], values["augment_elastic"], values["lr_decay"]) == (
        lake.mirrors, lake.augment_strength, lake.augment_elastic, lake.lr_decay)
    assert "mirror images as extra classes" in panel.recipe_note.text()
    assert values["frame_ink"] and "drawings cropped to their ink" in panel.recipe_note.text()
    assert values["frame_stretch"] == lake.frame_stretch and f"stretched up to {lake.frame_stretch:g}x" in (
        panel.recipe_note.text())
    assert values["frame_moments"] == lake.frame_moments and "framed by the ink's centre and spread" in (
        panel.recipe_note.text())
    assert values["frame_both"] == lake.frame_both and "each drawing framed both ways and read both ways" in (
        panel.recipe_note.text())
    assert panel.recipe_combo.currentData() == "lake"
    assert f"{lake.tta} test-time views" in panel.recipe_note.text() and not panel.recipe_note.isHidden()
    assert values["local_match"] and "strokes matched place by place" in panel.recipe_note.text()
    assert values["local_levels"] == 2 and "on the finer map too" in panel.recipe_note.text()
    assert values["channels"] == lake.channels and f"{lake.channels} filters a block" in panel.recipe_note.text()
    assert values["composed"] == lake.composed > 0 and "joined from two characters' halves" in panel.recipe_note.text()
    assert quick_note not in panel.recipe_note.text()
    panel._on_recipe_chosen(panel.recipe_combo.findData("quick"))
    assert panel.values()["image_size"] == 28 and panel.values()["tta"] == 0
    assert panel.recipe_note.text() == f"Also: {quick_note}" and "test-time views" not in panel.recipe_note.text()
    assert not panel.values()["local_match"] and panel.values()["local_levels"] == 1
    assert panel.values()["episode_loss"] == 0 and not panel.values()["same_alphabet"]


@pytest.mark.parametrize("key, described", [("frame_moments", "framed by the ink's centre and spread"),
                                             ("frame_both", "each drawing framed both ways and read both ways")])
def test_lake_settings_saved_before_a_newer_framing_restore_as_custom_and_as_saved(qtbot, key, described):
    """A person's saved lake settings from before the recipe framed by moments (session 32) or both ways (session
    34) lack that key: they come back as saved (the framing they trained with), the selector says 'custom' rather
    than claim today's recipe, and picking the recipe again brings the new framing."""
    from engine.api import load_engine
    from gui.algorithm_panel import AlgorithmPanel

    info = load_engine()
    panel = AlgorithmPanel(info.defaults, info.algorithms, info.backbones, False, shapes=info.shapes,
                           recipes=info.recipes)
    qtbot.addWidget(panel)
    saved = {k: v for k, v in info.recipes["lake"].items() if k != key}
    panel.set_values(saved)
    assert not panel.values()[key] and panel.values()["frame_ink"]
    assert panel.recipe_combo.currentData() is None and panel.recipe_combo.currentText() == "custom"
    assert described not in panel.recipe_note.text()
    panel._on_recipe_chosen(panel.recipe_combo.findData("lake"))
    assert panel.values()[key] and panel.recipe_combo.currentData() == "lake"
    assert described in panel.recipe_note.text()


def test_the_lake_command_line_keeps_the_recipes_steps_under_a_time_budget():
    """`train --recipe lake --time-budget 1800` (the issue's command) trains the recipe's 12,000-odd steps with the
    30 minutes as a cap, not a million steps until the budget runs out."""
    from engine.cli import build_parser, train_config

    lake = from_recipe("lake")
    parsed = train_config(build_parser().parse_args(["train", "--recipe", "lake", "--time-budget", "1800"]))
    assert (parsed.iterations, parsed.time_budget) == (lake.iterations, 1800.0)
    assert lake.iterations < 1_000_000 and lake.time_budget == 1800.0
    more = train_config(build_parser().parse_args(["train", "--recipe", "lake", "--iterations", "50000"]))
    assert more.iterations == 50_000 and more.episode_loss == lake.episode_loss  # an explicit count still wins


def _page(rows: slice, cols: slice, side: int = 105) -> Image.Image:
    """Dark ink on white paper: one rectangle of ink."""
    page = torch.full((side, side), 255, dtype=torch.uint8)
    page[rows, cols] = 0
    return Image.fromarray(page.numpy(), mode="L")


def person_support(folder: Path) -> tuple[Path, Path]:
    """A person's classes of one image each (a bar, a post, a block) in ``folder``/support, and a query image: a
    small bar in a corner, which a framed model sees centred and enlarged."""
    support = folder / "support"
    for name, rows, cols in (("bar", slice(10, 20), slice(10, 80)), ("post", slice(10, 80), slice(10, 20)),
                             ("block", slice(60, 100), slice(60, 100))):
        (support / name).mkdir(parents=True)
        _page(rows, cols).save(support / name / "a.png")
    query = folder / "small-bar-in-a-corner.png"
    _page(slice(4, 8), slice(80, 104)).save(query)
    return support, query


@pytest.mark.parametrize("stretch, moments", [(1.0, False), (2.0, False), (2.0, True)])
def test_a_framed_model_reads_a_persons_images_framed_in_predict_export_and_the_window(small_glyph_pool, tmp_path,
                                                                                        stretch, moments):
    import numpy as np

    from engine import api
    from engine.adaptation import predict_probabilities
    from engine.data.images import frame_images, load_image
    from engine.export import export_learner, load_classifier
    from engine.predict import Classifier, predict_files, read_queries

    ckpt = tmp_path / "framed.pt"
    config = TrainConfig(dataset="omniglot", data_root=str(minimal_set(small_glyph_pool, tmp_path / "data")),
                         algo="protonet", ways=5, queries=1, meta_batch=1, iterations=2, val_every=0,
                         frame_ink=True, frame_stretch=stretch, frame_moments=moments, device="cpu",
                         checkpoint=str(ckpt))
    frame = MomentFraming(stretch) if moments else stretch
    for _ in run(config):
        pass
    support, query = person_support(tmp_path)

    classifier, learner = Classifier.adapted(ckpt, support)  # `main.py predict --checkpoint --support`
    assert classifier.frame == learner.frame_ink == frame  # (2: a wide drawing's rows stretched twice)
    framed, as_drawn = load_image(query, frame=frame).numpy(), load_image(query).numpy()
    assert abs(_ink_box(torch.from_numpy(framed))[3] - 13.5) <= 1 and _ink_box(torch.from_numpy(as_drawn))[3] > 20
    np.testing.assert_array_equal(read_queries([query], frame=frame)[0], framed)
    (by_checkpoint,) = predict_files(classifier, [query])
    np.testing.assert_allclose(list(by_checkpoint.probabilities.values()),
                               predict_probabilities(learner, framed[None])[0], atol=1e-6)

    exported = export_learner(learner, classifier.class_names, tmp_path / "framed.pt2")  # `main.py export`
    from_file = Classifier.exported(exported.path)
    info = load_classifier(exported.path).info
    assert from_file.frame == frame and info["frame_stretch"] == stretch and info["frame_ink"]
    assert (info.get("frame_by") == "moments") == moments
    assert ("centre of mass" if moments else "crop to the ink") in info["input"]["from_a_file"]
    assert ("stretched (bilinear) up to 2 times" in info["input"]["from_a_file"]) == (stretch == 2)
    (by_file,) = predict_files(from_file, [query])
    np.testing.assert_allclose(list(by_file.probabilities.values()),
                               list(by_checkpoint.probabilities.values()), atol=1e-5)

    # the window: a person's images, and a query loaded unframed, are framed for this model before it sees them
    model = api.open_model(str(ckpt)).model
    images = np.stack([load_image(f).numpy() for f in sorted(support.glob("*/a.png"))])
    ready: list = []
    steps: list = []
    api.adapt(model, images, np.arange(3), 0, 0.0, on_step=steps.append, on_ready=ready.append, query=as_drawn)
    seen = api.predict(ready[0].learner, images, np.arange(3), as_drawn)
    # (centred by its box, or by its mass, which in a drawing a few pixels tall may sit off the box's centre)
    assert abs(_ink_box(torch.from_numpy(seen.query))[3] - 13.5) <= (2 if moments else 1)
    np.testing.assert_array_equal(seen.query, frame_images(as_drawn[None], frame)[0])  # framed as trained
    np.testing.assert_allclose(seen.probabilities, predict_probabilities(ready[0].learner, seen.query[None])[0],
                               atol=1e-5)
    np.testing.assert_allclose(steps[-1].probabilities, seen.probabilities, atol=1e-5)  # Adapt's live query
    with_view = api.predict(ready[0].learner, images, np.arange(3), as_drawn, ready[0].view)  # as the window does
    np.testing.assert_array_equal(with_view.query, seen.query)
    np.testing.assert_allclose(with_view.probabilities, seen.probabilities, atol=1e-5)
