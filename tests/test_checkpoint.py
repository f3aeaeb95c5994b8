"""Checkpoints: round trip, resume, atomic writes, safe loading."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

import engine.trainer as trainer
from engine.checkpoint import FORMAT, CheckpointError, atomic_write, load_checkpoint, save_checkpoint
from engine.config import TrainConfig
from engine.data.base import DataError
from engine.events import Finished, Started
from engine.tasks import TaskSampler


def small_config(path, **changes) -> TrainConfig:
    base = TrainConfig(
        algo="protonet", ways=5, shots=1, queries=3, meta_batch=2, iterations=3,
        val_every=0, val_episodes=2, seed=5, device="cpu", checkpoint=str(path),
    )
    return base.replace(**changes)


def train(config, pool, monkeypatch=None):
    """Run to the end; return (events, the trained algorithm or None)."""
    captured = {}
    if monkeypatch is not None:
        original = trainer.build_model_and_algorithm

        def capture(cfg, device):
            captured["algo"] = original(cfg, device)
            return captured["algo"]

        monkeypatch.setattr(trainer, "build_model_and_algorithm", capture)
    events = list(trainer.run(config, pool=pool))
    if monkeypatch is not None:
        monkeypatch.undo()
    return events, captured.get("algo")


def finished(events) -> Finished:
    assert isinstance(events[-1], Finished)
    return events[-1]


@pytest.fixture
def checkpoint(tmp_path, small_glyph_pool):
    path = tmp_path / "model.pt"
    train(small_config(path), small_glyph_pool)
    return path


@pytest.mark.parametrize("algo", ["protonet", "maml"])
def test_round_trip_restores_identical_weights_and_predictions(tmp_path, small_glyph_pool, monkeypatch, algo):
    path = tmp_path / "model.pt"
    events, trained = train(small_config(path, algo=algo, queries=2), small_glyph_pool, monkeypatch)
    assert finished(events).iterations == 3 and path.is_file()
    restored, config, payload = trainer.restore(str(path))
    assert config == small_config(path, algo=algo, queries=2)
    assert payload["iteration"] == 3 and len(payload["history"]["loss"]) == 3
    want, got = trained.model.state_dict(), restored.model.state_dict()
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key
    # the weights changed during training, so equality above is not trivially the seeded init
    fresh = trainer.build_model_and_algorithm(config, torch.device("cpu")).model.state_dict()
    assert any(not torch.equal(fresh[k], want[k]) for k in want)
    task = TaskSampler(small_glyph_pool, "test", 5, 1, 4, seed=1).episode(0)
    a = trained.adapt(task.support_x, task.support_y).predict(task.query_x)
    b = restored.adapt(task.support_x, task.support_y).predict(task.query_x)
    assert torch.equal(a, b)


def test_resume_continues_from_saved_iteration(tmp_path, small_glyph_pool):
    path = tmp_path / "run.pt"
    first = finished(train(small_config(path), small_glyph_pool)[0])
    events, _ = train(small_config(path, iterations=6, resume=True), small_glyph_pool)
    assert isinstance(events[0], Started) and events[0].start_iteration == 3
    second = finished(events)
    assert second.iterations == 6
    assert second.history["iteration"] == [1, 2, 3, 4, 5, 6]
    assert second.history["loss"][:3] == first.history["loss"]
    assert load_checkpoint(path)["iteration"] == 6
    # resuming is the same as never having stopped: weights, optimiser state and episodes all carry over
    straight = finished(train(small_config(tmp_path / "straight.pt", iterations=6), small_glyph_pool)[0])
    torch.testing.assert_close(
        torch.tensor(second.history["loss"]), torch.tensor(straight.history["loss"]), rtol=1e-5, atol=1e-6
    )


def test_resume_refuses_a_different_architecture(tmp_path, small_glyph_pool, checkpoint):
    with pytest.raises(DataError, match="resume"):
        list(trainer.run(small_config(checkpoint, iterations=6, resume=True, ways=3), pool=small_glyph_pool))


def test_atomic_write_leaves_no_temp_files(tmp_path, checkpoint):
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    before = checkpoint.read_bytes()

    def failing_writer(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(checkpoint, failing_writer)
    assert checkpoint.read_bytes() == before, "a failed write damaged the previous checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    atomic_write(tmp_path / "new" / "x.bin", lambda f: f.write(b"ok"))
    assert (tmp_path / "new" / "x.bin").read_bytes() == b"ok"
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["x.bin"]


class _Exploit:
    """Unpickling this calls os.mkdir(marker): code execution on load."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_crafted_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "version": 1, "config": {}, "model": {}, "payload": _Exploit(str(marker))}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        trainer.restore(str(path))
    assert not marker.exists(), "loading the checkpoint ran code"
    # the payload really is an exploit: plain unpickling runs it (the project never loads that way)
    pickle.loads(pickle.dumps(_Exploit(str(marker))))
    assert marker.exists()


def test_truncated_checkpoint(tmp_path, checkpoint):
    data = checkpoint.read_bytes()
    for n in (len(data) // 2, 100, 1):
        bad = tmp_path / f"truncated{n}.pt"
        bad.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match=str(bad.name)):
            load_checkpoint(bad)


def test_zero_byte_and_random_bytes_and_missing(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(empty)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(
        torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy().tobytes()
    )
    with pytest.raises(CheckpointError):
        load_checkpoint(noise)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a checkpoint\n")
    with pytest.raises(CheckpointError):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path)  # a folder


def test_non_checkpoint_torch_file(tmp_path):
    for i, obj in enumerate([{"weight": torch.zeros(3)}, torch.zeros(3), [1, 2, 3], {"format": "other"}]):
        path = tmp_path / f"other{i}.pt"
        torch.save(obj, path)
        with pytest.raises(CheckpointError, match="not a Meta Playground checkpoint"):
            load_checkpoint(path)


def test_architecture_mismatch(tmp_path, checkpoint):
    payload = load_checkpoint(checkpoint)
    for change in ({"backbone": "seed"}, {"ways": 3}):
        bad = tmp_path / f"mismatch-{next(iter(change))}.pt"
        save_checkpoint(bad, config={**payload["config"], **change}, model_state=payload["model"])
        with pytest.raises(CheckpointError, match="architecture"):
            trainer.restore(str(bad))
    # weights with a missing tensor
    weights = dict(payload["model"])
    weights.pop(next(iter(weights)))
    save_checkpoint(tmp_path / "missing.pt", config=payload["config"], model_state=weights)
    with pytest.raises(CheckpointError, match="architecture"):
        trainer.restore(str(tmp_path / "missing.pt"))
