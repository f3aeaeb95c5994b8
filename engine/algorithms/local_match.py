"""Local-descriptor matching: a query also scored by how well each place of its last feature map finds a match
in a class's examples, beside the nearest-mean rule on the pooled embedding.

Reference: Li, Wang, Xu, Huo, Gao & Luo, "Revisiting Local Descriptor based Image-to-Class Measure for
Few-shot Learning" (DN4), CVPR 2019: each local descriptor of a query takes its nearest among all the
local descriptors of a class's support images (cosine), and the class's score is the mean of those.

Why it is here: the embedding is the last block's 3x3 map max-pooled, so characters that share most of their
strokes (Balinese's variations on a few loops) end up close; the unpooled map keeps which stroke is where.
On the hard fold of Lake's stand-in runs it gains 2.35-3.4 points on three 30-minute models, and 0.26 on the
mean of the five folds at 30 minutes (BENCHMARKS.md, "Local descriptors matched"). The two scores are put on
one scale per query (each standardised over the classes) and added, so neither dominates; the sum is rescaled
to the nearest-mean logits' own spread, so the probabilities shown stay those of a comparable classifier. Every
quantity comes from the support set and the one query, so scoring stays inductive.

With ``local_levels`` 2 the third block's 7x7 map (before its pooling) is matched as well, each place only
within one row or column of where it is: finer strokes, and where they are kept. The two maps' standardised
scores are averaged. On the same five 30-minute models: 14.98% against 15.88% (BENCHMARKS.md, "Strokes matched
on the finer map").

An ensemble backbone (``--members``) matches each member's maps and averages the members' cosines place by place,
so networks that vote on the pooled embedding vote on the places too.

Training can score each batch's episode by the same matching (``local_loss``: :func:`pooled_and_maps` and
:func:`level_similarities`, used by ``Finetune.local_episode_loss``), as DN4 trains.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import apply_views, view_maps
from ..models import Members, with_support
from .base import JoinedLearner, Learner


def unpooled_last_block(features: nn.Sequential) -> tuple[nn.Module, nn.Sequential, nn.Module]:
    """``features`` (conv blocks, then a Flatten) in three parts: the blocks before the last, the last block
    without its pooling, and that pooling. Its unpooled map is ``block(lower(x))``; ``features(x)`` is
    ``pool`` of it, flattened (the ReLU after the pooling commutes with a max)."""
    pooling = (nn.MaxPool2d, nn.AdaptiveMaxPool2d)
    pool = next(m for m in features[-2] if isinstance(m, pooling))
    return features[:-2], nn.Sequential(*(m for m in features[-2] if not isinstance(m, pooling))), pool


def member_networks(features: nn.Sequential) -> list[nn.Sequential]:
    """``features`` as the networks whose maps are matched: itself, or for an ensemble backbone
    (:class:`engine.models.Members`, ``--members``) each member after the layers before the ensemble."""
    if not isinstance(features[-1], Members):
        return [features]
    return [nn.Sequential(*features[:-1], *network) for network in features[-1].networks]


class _NetworkMaps(nn.Module):
    """One network's unpooled last map, and with ``levels`` 2 the block before's as well, as [n, channels,
    places] (the last map's places first)."""

    def __init__(self, features: nn.Sequential, levels: int) -> None:
        super().__init__()
        self.lower = features[: -1 - levels]  # everything before the matched blocks (and the Flatten after them)
        self.before = features[-3] if levels > 1 else None
        self.block = unpooled_last_block(features)[1]

    def maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The last block's unpooled map [n, channels, rows, columns], then with ``levels`` 2 the finer one."""
        h = self.lower(x)
        if self.before is None:
            return [self.block(h)]
        unpooled = self.before[:-2](h)  # conv and BatchNorm: the map before its 2x2 pool and ReLU
        finer = F.relu(unpooled)
        last = self.block(self.before[-2:](unpooled))  # (the block's pool and ReLU, as features runs them)
        return [last, finer]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.flatten(2) for m in self.maps(x)], 2)


def pooled_and_maps(features: nn.Sequential, x: torch.Tensor, levels: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``features(x)`` and the maps :class:`LocalMaps` matches ([n, channels, places] each, the last map first),
    from one pass: training's local-match episode (``local_loss``). One network (not an ensemble)."""
    maps = _NetworkMaps(features, levels).maps(x)
    pooled = features[-1](unpooled_last_block(features)[2](maps[0]))
    return pooled, [m.flatten(2) for m in maps]


class LocalMaps(nn.Module):
    """``features``' last block without its pooling, and with ``levels`` 2 the block before it too: each image's
    maps as [views + 1, channels, places], over the image and ``views`` fixed distortions of it (the same as
    :class:`engine.algorithms.simpleshot.ViewMean`'s, so both scores see the same drawings). The levels' places
    follow one another on the last axis (3x3 then 7x7 for a 28x28 image; :func:`split_places` parts them).

    An ensemble's members each give their maps, each place normalised over its channels, joined on the channel
    axis and scaled back to unit length: the cosine of two places is then the mean of the members' cosines, as
    :class:`engine.algorithms.simpleshot.Normalized` averages their nearest-mean scores."""

    def __init__(self, features: nn.Sequential, views: int = 0, strokes: bool = False, levels: int = 1) -> None:
        super().__init__()
        self.levels = levels
        self.networks = nn.ModuleList(_NetworkMaps(network, levels) for network in member_networks(features))
        self.maps = view_maps(views, seed=0, strokes=strokes)  # (drawn once: an export keeps them as constants)

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.networks) == 1:
            return self.networks[0](x)
        parts = [F.normalize(network(x), dim=1) for network in self.networks]
        return torch.cat(parts, 1) / len(parts) ** 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[images, views, channels, places]; an image of several channels, one drawing read several ways
        (engine.framing.BothFramings), gives each way's views one after the other."""
        images = [view for way in x.split(1, dim=1) for view in (way, *apply_views(way, *self.maps))]
        return torch.stack([self._levels(view) for view in images], 1)


def split_places(places: int) -> tuple[int, int]:
    """The two levels' places in :class:`LocalMaps`' ``places`` = a² + b², where the finer map's side b is 2a or
    2a + 1 (a 2x2 pool between them)."""
    for a in range(1, math.isqrt(places) + 1):
        for b in (2 * a, 2 * a + 1):
            if a * a + b * b == places:
                return a * a, b * b
    raise ValueError(f"{places} places are not a square map and its 2x2-pooled square")


def _farther_than(side: int, radius: int) -> torch.Tensor:
    """[side², side²] True where two places of a side x side map are more than ``radius`` rows or columns apart."""
    rows, cols = torch.arange(side).repeat_interleave(side), torch.arange(side).repeat(side)
    return torch.maximum((rows[:, None] - rows).abs(), (cols[:, None] - cols).abs()) > radius


def local_similarity(query_maps: torch.Tensor, support_maps: torch.Tensor, support_y: torch.Tensor,
                     ways: int, radius: int | None = None) -> torch.Tensor:
    """[queries, ways]: for each query place, the cosine of its nearest place among a class's support maps,
    averaged over places and views (DN4's image-to-class measure, k = 1). With ``radius``, a place looks only
    within that many rows and columns of where it is (the maps square): a stroke must be roughly where the
    example has it, as an image distortion model matches (Keysers et al., PAMI 2007)."""
    q = F.normalize(query_maps, dim=2)  # [Q, V, C, P]
    s = F.normalize(support_maps, dim=2)  # [S, V, C, P]
    cos = torch.einsum("qvcp,svcr->qsvpr", q, s)
    if radius is not None:
        cos = cos.masked_fill(_farther_than(math.isqrt(q.shape[3]), radius).to(cos.device), -2.0)
    cos = cos.amax(4)  # each query place's best place in each support image
    # the best over the class's images (a mask rather than indexing, so the shapes never depend on the labels and
    # an exported program traces it)
    outside = F.one_hot(support_y, ways).T.logical_not()[None, :, :, None, None]  # [1, ways, S, 1, 1]
    return cos[:, None].masked_fill(outside, -2.0).amax(2).mean((2, 3))


def _nearby_similarity(query_maps: torch.Tensor, support_maps: torch.Tensor, support_y: torch.Tensor,
                       ways: int) -> torch.Tensor:
    """:func:`local_similarity` with ``radius`` 1 for one view of non-negative maps ([n, channels, places], a square
    map), each query place compared with its 3x3 neighbourhood only (5 times less work on a 7x7 map than comparing
    every pair and masking, for training; the same values: a place past the edge is a zero vector, cosine 0, and
    the maps' cosines are never below 0)."""
    side = math.isqrt(query_maps.shape[2])
    q = F.normalize(query_maps, dim=1)  # [Q, C, P]
    s = F.normalize(support_maps, dim=1).unflatten(2, (side, side))
    near = F.unfold(s, 3, padding=1).unflatten(1, (s.shape[1], 9))  # [S, C, 9, P]
    # one matrix product per place: [P, Q, C] @ [P, C, S * 9]
    cos = torch.bmm(q.permute(2, 0, 1), near.permute(3, 1, 0, 2).flatten(2))  # [P, Q, S * 9]
    best = cos.unflatten(2, (len(s), 9)).amax(3).permute(1, 2, 0)  # [Q, S, P]
    outside = F.one_hot(support_y, ways).T.logical_not()[None, :, :, None]  # [1, ways, S, 1]
    return best[:, None].masked_fill(outside, -2.0).amax(2).mean(2)


def level_similarities(maps: list[torch.Tensor], support: int, support_y: torch.Tensor,
                       ways: int) -> list[torch.Tensor]:
    """Each level's [queries, ways] :func:`local_similarity` of the images after the first ``support`` to the
    classes of those (maps as :func:`pooled_and_maps` gives them, one view): the last map's places look anywhere,
    the finer map's within one place of their own, as :meth:`LocalMatchLearner.similarity` matches them."""
    last = local_similarity(maps[0][support:, None], maps[0][:support, None], support_y, ways)
    return [last, *(_nearby_similarity(m[support:], m[:support], support_y, ways) for m in maps[1:])]


def standardised(scores: torch.Tensor) -> torch.Tensor:
    """[n, ways] ``scores`` standardised over each row (a query's own mean and spread over the classes): two
    scores of different kinds on one scale, so that they can be added."""
    return (scores - scores.mean(1, keepdim=True)) / scores.std(1, keepdim=True).clamp_min(1e-8)


class LocalMatchLearner(JoinedLearner):
    """``base`` (a nearest-mean or linear-head learner on the pooled embedding) whose logits are joined by the
    local descriptors' image-to-class similarity. Embedding, head and support embedding are ``base``'s."""

    def __init__(self, base: Learner, maps: LocalMaps, support_x: torch.Tensor, support_y: torch.Tensor) -> None:
        super().__init__(base)
        self.maps, self.support_x, self.support_y = maps, support_x, support_y

    def similarity(self, x: torch.Tensor) -> torch.Tensor:
        """[n, ways] local-descriptor similarity of each image to each class (statistics from the support set):
        each level's standardised over the classes, and the levels averaged. The last map's places look
        anywhere in it; the finer map's within one place of where they are."""
        with torch.no_grad():
            out = with_support(self.maps, self.support_x, x)
        n = len(self.support_x)
        if self.maps.levels == 1:
            parts = [(out, None)]
        else:
            last, _ = split_places(out.shape[3])
            parts = [(out[..., :last], None), (out[..., last:], 1)]
        scores = [standardised(local_similarity(m[n:], m[:n], self.support_y, self.ways, r)) for m, r in parts]
        return sum(scores) / len(scores)

    def joined(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logits + logits.detach().std(1, keepdim=True) * self.similarity(x)
