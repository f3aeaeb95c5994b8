"""Time to a useful model: meta-train with the app's default settings on Omniglot
small1 until the held-out-alphabet 5-way 1-shot accuracy reaches the target.

Validation runs every ``--check-every`` iterations on fixed episodes of the
validation alphabets and decides when to stop; ``seconds`` is the trainer's
wall clock from the first iteration (validation included, data loading not).
The reported accuracy is then measured on the test alphabets, which took no
part in the decision.

    python bench/time_to_accuracy.py [--target 0.95] [--budget 120] [--algo protonet]
"""

from __future__ import annotations

import argparse

from common import OMNIGLOT_DIR, emit, load_pool, machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--budget", type=float, default=120.0, help="give up after this many training seconds")
    ap.add_argument("--algo", default=None, help="default: the app's default algorithm")
    ap.add_argument("--check-every", type=int, default=25)
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--data", default="omniglot")
    args = ap.parse_args()

    import tempfile
    from pathlib import Path

    from engine.config import TrainConfig
    from engine.events import IterationMetrics, ValidationMetrics
    from engine.tasks import TaskSampler
    from engine.trainer import RunControl, evaluate, restore, run

    pool = load_pool(args.data)
    ckpt = Path(tempfile.mkdtemp()) / "tta.pt"
    base = TrainConfig(dataset=args.data, data_root=str(OMNIGLOT_DIR) if args.data == "omniglot" else None)
    config = base.replace(
        algo=args.algo or base.algo, iterations=100_000, time_budget=args.budget,
        val_every=args.check_every, val_episodes=args.episodes, checkpoint=str(ckpt),
    )
    control = RunControl()
    seconds, val = 0.0, None
    for event in run(config, control, pool=pool):
        if isinstance(event, IterationMetrics):
            seconds = event.elapsed
        if isinstance(event, ValidationMetrics):
            val = event
            print(f"{seconds:6.1f} s  iteration {event.iteration}: validation alphabets {100 * event.accuracy:.1f}% +- {100 * event.ci95:.1f}")
            if event.accuracy >= args.target:
                control.stop()  # the checkpoint was just written at this iteration
    # Confirm on the test alphabets, which played no part in deciding when to stop.
    algo, _, _ = restore(str(ckpt))
    test_acc, test_ci = evaluate(algo, TaskSampler(pool, "test", 5, 1, 15, seed=1).fixed(args.episodes), "cpu")
    print(f"test alphabets: {100 * test_acc:.1f}% +- {100 * test_ci:.1f} after {seconds:.1f} s of meta-training")
    emit({
        "machine": machine(), "algo": config.algo, "target": args.target,
        "seconds": round(seconds, 1), "iteration": val.iteration if val else 0,
        "val_accuracy": val.accuracy if val else None,
        "accuracy": test_acc, "ci95": test_ci, "reached": bool(test_acc >= args.target),
    })


if __name__ == "__main__":
    main()
