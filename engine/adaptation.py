"""Adapting to a person's own classes, with what the workspace shows while it happens.

The GUI's worker calls these functions; they take and return plain numpy
(uint8 [n, 28, 28] images, int labels, float arrays) so the GUI never touches
torch. :func:`adapt_with_progress` wraps ``Algorithm.adapt`` (the one
interface) and adds a leave-one-out estimate of how well the adapted model
generalises; :func:`embedding_projection` turns the feature space into 2-D
points for the embedding view; :func:`predict_query` scores one drawing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from .algorithms.base import Algorithm, Learner, StepStats
from .data.base import DataError
from .data.images import frame_images
from .framing import Frame
from .models import reuse_support_passes
from .tasks import to_float

StepCallback = Callable[[StepStats], None]


def _device(algo: Algorithm) -> torch.device:
    return next(algo.model.parameters()).device


def as_model_input(images: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """uint8 [n, 28, 28] (numpy or torch) or float [n, 1, 28, 28] -> float [n, 1, 28, 28] on ``device`` (uint8
    [n, 2, 28, 28], drawings read two ways, -> float [n, 2, 28, 28])."""
    x = torch.as_tensor(np.asarray(images)) if isinstance(images, np.ndarray) else images
    if x.dtype == torch.uint8:
        if x.dim() == 2:
            x = x.unsqueeze(0)
        x = to_float(x)
    elif x.dim() == 3:
        x = x.unsqueeze(1)
    return x.to(device) if device is not None else x


def _labels(labels: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(
        np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels, dtype=torch.int64
    ).to(device)


def check_support(labels: torch.Tensor) -> int:
    """The number of classes; refuse a support set the model cannot adapt to."""
    if labels.numel() == 0:
        raise DataError("there are no examples yet; draw or load at least one per class")
    ways = int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=ways)
    empty = [i + 1 for i, c in enumerate(counts.tolist()) if c == 0]
    if empty:
        raise DataError(f"class {', '.join(map(str, empty))} has no examples; add at least one to every class")
    if ways < 2:
        raise DataError("adapting needs at least 2 classes")
    return ways


@torch.no_grad()
def _score(learner: Learner, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    return int((learner.logits(x).argmax(-1) == y).sum()), len(y)


class Cancelled(Exception):
    """A newer Adapt asked this one to stop (raised between steps; nothing half-made is returned)."""


def leave_one_out_accuracy(
    algo: Algorithm, x: torch.Tensor, y: torch.Tensor, steps: int | None, inner_lr: float | None
) -> float | None:
    """Accuracy on held-out shots after the last step (see :func:`leave_one_out_curve`)."""
    curve = leave_one_out_curve(algo, x, y, steps, inner_lr)
    return None if curve is None else float(curve[-1])


def leave_one_out_curve(
    algo: Algorithm,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int | None,
    inner_lr: float | None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """Accuracy on held-out shots after each step: fold j holds out the j-th example of every class
    that has two or more.

    Each fold adapts from scratch on the rest (same steps and rate) and scores
    the held-out examples, so this costs one extra adaptation per fold (K folds
    for K shots). Where the algorithm reports each step's model (``StepStats.state``)
    the held-out examples are scored at every step of the fold's adaptation, which
    adds one small forward per step; otherwise only the adapted model is scored and
    the earlier steps are NaN. ``None`` when no class has two examples. ``should_stop``
    is checked between steps and raises :class:`Cancelled`.
    """
    ways = int(y.max()) + 1
    members = [torch.nonzero(y == c).flatten() for c in range(ways)]
    folds = max(len(m) for m in members)
    if folds < 2:
        return None
    correct: dict[int, int] = {}
    total = 0
    for j in range(folds):
        held = [int(m[j]) for m in members if len(m) >= 2 and j < len(m)]
        keep = torch.ones(len(y), dtype=torch.bool, device=y.device)
        keep[held] = False
        scored: dict[int, int] = {}
        held_features: list[torch.Tensor] = []  # head-only models: the held-out examples embedded once per fold

        def score_step(stats: StepStats, hx: torch.Tensor = x[held], hy: torch.Tensor = y[held]) -> None:
            if should_stop is not None and should_stop():
                raise Cancelled
            if stats.state is None:
                return
            learner = stats.state()
            head = None if algo.adapts_features else learner.head_weights()
            if head is None:
                scored[stats.step] = _score(learner, hx, hy)[0]
                return
            if not held_features:
                held_features.append(learner.embed(hx).flatten(1))
            logits = held_features[0] @ head[:, :-1].T + head[:, -1]
            scored[stats.step] = int((logits.argmax(-1) == hy).sum())

        learner = algo.adapt(x[keep], y[keep], steps=steps, inner_lr=inner_lr, on_step=score_step)
        if not scored:
            scored[steps or 0] = _score(learner, x[held], y[held])[0]
        for step, c in scored.items():
            correct[step] = correct.get(step, 0) + c
        total += len(held)
    last = max(correct)
    curve = np.full(last + 1, np.nan)
    for step, c in correct.items():
        curve[step] = c / total
    return curve



@torch.no_grad()
def _predicted(learner: Learner, x: torch.Tensor) -> torch.Tensor:
    return learner.logits(x).argmax(-1)


def leave_one_out_predictions(
    algo: Algorithm, x: torch.Tensor, y: torch.Tensor, steps: int | None, inner_lr: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The folds of :func:`leave_one_out_accuracy`: indices of the held-out examples and their predicted labels
    (empty when no class has two examples); the per-class view builds its confusion matrix from them."""
    ways = int(y.max()) + 1
    members = [torch.nonzero(y == c).flatten() for c in range(ways)]
    folds = max(len(m) for m in members)
    all_held: list[int] = []
    predicted: list[torch.Tensor] = []
    for j in range(folds if folds >= 2 else 0):
        held = [int(m[j]) for m in members if len(m) >= 2 and j < len(m)]
        keep = torch.ones(len(y), dtype=torch.bool, device=y.device)
        keep[held] = False
        learner = algo.adapt(x[keep], y[keep], steps=steps, inner_lr=inner_lr)
        predicted.append(_predicted(learner, x[held]))
        all_held += held
    index = torch.tensor(all_held, dtype=torch.int64, device=y.device)
    return index, (torch.cat(predicted) if predicted else index)


def adapt_with_progress(
    algo: Algorithm,
    support_x: np.ndarray | torch.Tensor,
    support_y: np.ndarray | torch.Tensor,
    steps: int | None = None,
    inner_lr: float | None = None,
    on_step: StepCallback | None = None,
    leave_one_out: bool = True,
) -> Learner:
    """Adapt ``algo`` to a support set, reporting each step as it happens.

    ``on_step`` receives one :class:`StepStats` per step (support loss and
    accuracy; ProtoNet has a single step 0, MAML steps 0..steps). Leave-one-out
    accuracy is computed **once, after the last step** (K more adaptations
    per step would make a 10-step MAML adapt ~50x slower), and is carried by
    the last step's stats, which are therefore reported after it is known.
    """
    device = _device(algo)
    x = as_model_input(support_x, device)
    y = _labels(support_y, device)
    check_support(y)
    if not leave_one_out:  # nothing to add to the last step: each one goes out as it happens
        return inputs_as_trained(algo.adapt(x, y, steps=steps, on_step=on_step, inner_lr=inner_lr), algo)
    pending: list[StepStats] = []

    def relay(stats: StepStats) -> None:
        if pending and on_step is not None:
            on_step(pending.pop())
        pending[:] = [stats]

    learner = algo.adapt(x, y, steps=steps, on_step=relay, inner_lr=inner_lr)
    loo = leave_one_out_accuracy(algo, x, y, steps, inner_lr) if leave_one_out else None
    if pending and on_step is not None:
        last = pending.pop()
        on_step(replace(last, loo_accuracy=loo))
    return inputs_as_trained(learner, algo)


def inputs_as_trained(learner: Learner, algo: Algorithm) -> Learner:
    """Mark whether ``learner`` expects its images framed to their ink, as ``algo``'s training drawings were
    (so an export records it, and the window frames a person's images for it)."""
    learner.frame_ink = getattr(algo.config, "frame_ink", 0.0)
    return learner


def images_as_trained(framed: Frame, images: np.ndarray) -> np.ndarray:
    """A person's uint8 images [n, 28, 28] as a model was trained to see them: framed to their ink for a model
    trained on framed drawings (``framed``: its config's or learner's ``frame_ink``), as they are otherwise; for
    one that reads each drawing framed both ways, [n, 2, 28, 28]."""
    if not framed or not len(images):
        return images
    return frame_images(np.asarray(images), framed)


@torch.no_grad()
def predict_probabilities(learner: Learner, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Class probabilities float [n, ways] for uint8 images [n, 28, 28] (or one [28, 28]; drawings read two ways
    come as a batch, [n, 2, 28, 28], even of one: a lone [2, 28, 28] is two drawings)."""
    device = _learner_device(learner)
    return learner.predict(as_model_input(images, device)).cpu().numpy()


def _learner_device(learner: Learner) -> torch.device:
    """Where a learner's tensors live (learners keep their support set; CPU otherwise)."""
    sx = getattr(learner, "support_x", None)
    return sx.device if isinstance(sx, torch.Tensor) else torch.device("cpu")


def _pca_basis(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Mean, top-2 principal directions [dim, 2] (sign fixed) and their explained variance ratio."""
    mean = points.mean(0)
    centred = points - mean
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    basis = vh[:2].T
    if basis.shape[1] < 2:  # a single point or a 1-D embedding
        basis = torch.cat([basis, basis.new_zeros(basis.shape[0], 2 - basis.shape[1])], 1)
    signs = torch.sign(basis[basis.abs().argmax(0), torch.arange(2)])
    basis = basis * torch.where(signs == 0, torch.ones_like(signs), signs)
    var = s.pow(2)
    ratio = (var[:2] / var.sum().clamp_min(1e-12)).cpu().numpy()
    return mean, basis, np.pad(ratio, (0, 2 - len(ratio)))


@torch.no_grad()
def embedding_projection(
    learner: Learner,
    support_x: np.ndarray | torch.Tensor,
    support_y: np.ndarray | torch.Tensor,
    query_x: np.ndarray | torch.Tensor | None = None,
    axes: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """2-D PCA of the adapted feature space, for the embedding view.

    The axes are fitted on the support embeddings and class means
    (prototypes) only; queries are projected onto them. That keeps the
    picture still while a person draws: the query dot moves, the classes
    do not.

    Returns a dict of numpy arrays: ``support`` [n, 2], ``support_labels``
    [n], ``prototypes`` [ways, 2], ``query`` [q, 2] (empty when no query),
    ``explained`` [2] (variance ratio of each axis), and the projection itself,
    ``mean`` [dim] and ``basis`` [dim, 2], with which :func:`predict_query`
    places later queries without embedding the support set again. With ``axes``
    (a view's ``mean``, ``basis`` and ``explained``) the points are projected
    onto those axes instead of new ones: :class:`StepViews` keeps one set of
    axes for all the steps of an adaptation.
    """
    device = _learner_device(learner)
    sx = as_model_input(support_x, device)
    y = _labels(support_y, device)
    ways = check_support(y)
    qx = as_model_input(query_x, device) if query_x is not None and len(query_x) else sx[:0]
    known = learner.support_embedding
    own = getattr(learner, "support_x", None)
    if (
        known is not None
        and not len(qx)
        and isinstance(own, torch.Tensor)
        and own.shape == sx.shape
        and torch.equal(own, sx)
    ):
        emb = known.flatten(1).float()  # the Adapt pass already embedded exactly this support set
    else:
        emb = learner.embed(torch.cat([sx, qx])).flatten(1).float()
    s_emb, q_emb = emb[: len(sx)], emb[len(sx) :]
    protos = torch.zeros(ways, emb.shape[1], device=emb.device).index_add_(0, y, s_emb)
    protos = protos / torch.bincount(y, minlength=ways).clamp_min(1).unsqueeze(1)
    if axes is None:
        mean, basis, explained = _pca_basis(torch.cat([s_emb, protos]))
    else:
        mean, basis = (torch.as_tensor(axes[k], device=emb.device) for k in ("mean", "basis"))
        explained = np.asarray(axes["explained"])
    project = lambda e: ((e - mean) @ basis).cpu().numpy().astype(np.float32)  # noqa: E731
    return {
        "support": project(s_emb),
        "support_labels": y.cpu().numpy(),
        "prototypes": project(protos),
        "query": project(q_emb) if len(q_emb) else np.zeros((0, 2), np.float32),
        "explained": explained.astype(np.float32),
        "mean": mean.cpu().numpy().astype(np.float32),
        "basis": basis.cpu().numpy().astype(np.float32),
    }


def predict_query(
    learner: Learner,
    support_x: np.ndarray,
    support_y: np.ndarray,
    query: np.ndarray,
    view: dict | None = None,
) -> dict[str, np.ndarray]:
    """One drawn query: its class probabilities plus the embedding view's points.

    With ``view`` (the learner's :func:`embedding_projection` made at Adapt time)
    the query is scored and embedded in one forward and projected onto that
    view's axes; the support points are the view's own (the same arrays), so
    only the query dot moves. Without it everything is computed afresh.
    """
    queries = query[None] if query.ndim == 2 else query  # (one [H, W], or a batch [n, H, W] or [n, C, H, W])
    if view is None or "basis" not in view:
        probs = predict_probabilities(learner, queries)
        return {"probabilities": probs[0], **embedding_projection(learner, support_x, support_y, queries)}
    with torch.no_grad(), reuse_support_passes(_support_passes(learner)):  # later queries reuse the support pass
        logits, emb = learner.logits_and_embedding(as_model_input(queries, _learner_device(learner)))
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        point = ((emb.flatten(1).float().cpu().numpy() - view["mean"]) @ view["basis"]).astype(np.float32)
    return {"probabilities": probs[0], **view, "query": point}


def _support_passes(learner: Learner) -> dict:
    """The learner's cache of support passes (engine.models.reuse_support_passes), made on first use."""
    return learner.__dict__.setdefault("_support_passes", {})


@torch.no_grad()
def prime_predictions(learner: Learner, support_x: np.ndarray) -> None:
    """Forward the support set for :func:`predict_query` ahead of the first query (on the Adapt's worker, after
    the learner is ready): then every prediction, the first too, forwards only the query."""
    with reuse_support_passes(_support_passes(learner)):
        learner.logits_and_embedding(as_model_input(support_x[:1], _learner_device(learner)))


class StepViews:
    """The embedding view at each adaptation step, on axes fixed at step 0, so the picture moves, not the axes.

    Call it with each step's model (``StepStats.state()``). What moves depends on the
    algorithm: where adapting changes the features (MAML, Meta-SGD) the support points
    and class means move; where only a head on fixed features changes (Proto-head,
    ANIL, fine-tune) the points stay and the class weights move. Class c's weights
    ``w_c`` (bias ``b_c``) are drawn at ``w_c / 2``: with ``|z|^2`` the same for every
    class, ``w_c.z + b_c = -|z - w_c/2|^2 + const_c``, so that is the point a nearest-point
    classifier with the same scores (up to a per-class offset) would use; at Proto-head's
    step 0 it is exactly the class mean. With a ``query`` each step also gives its class
    probabilities and its place in the view.
    """

    def __init__(
        self,
        support_x: np.ndarray | torch.Tensor,
        support_y: np.ndarray | torch.Tensor,
        show_weights: bool,
        query: np.ndarray | None = None,
    ) -> None:
        self.support_x, self.support_y = support_x, support_y
        self.show_weights = show_weights
        self.query = None if query is None else (query[None] if query.ndim == 2 else query)
        self.axes: dict[str, np.ndarray] | None = None

    @torch.no_grad()
    def __call__(self, learner: Learner) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """(the view at this step, the query's probabilities [ways] or None)."""
        device = _learner_device(learner)
        sx = as_model_input(self.support_x, device)
        if learner.support_embedding is None:
            learner.support_embedding = learner.support_features(sx)
        view = embedding_projection(learner, sx, self.support_y, axes=self.axes)
        if self.axes is None:
            self.axes = {k: view[k] for k in ("mean", "basis", "explained")}
        weights = learner.head_weights() if self.show_weights else None
        if weights is not None:
            w = weights[:, :-1].float().cpu().numpy() / 2
            view["weights"] = ((w - view["mean"]) @ view["basis"]).astype(np.float32)
        probs = None
        if self.query is not None:
            logits, emb = learner.logits_and_embedding(as_model_input(self.query, device))
            probs = torch.softmax(logits.float(), dim=-1)[0].cpu().numpy()
            view["query"] = ((emb.flatten(1).float().cpu().numpy() - view["mean"]) @ view["basis"]).astype(np.float32)
        return view, probs
