"""How a model frames a drawing before it sees it: a value small enough to travel in configs, exports and the
window's calls, and free of torch so that the window can pass it along. engine.data.images does the framing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MomentFraming:
    """A model's framing where its drawings are framed by their ink's moments
    (:func:`engine.data.images.frame_moments`) rather than their ink's box; ``stretch`` as the box's."""

    stretch: float = 1.0


@dataclass(frozen=True)
class BothFramings:
    """A model's framing where each drawing is framed both ways, by its ink's moments and by its ink's box (one
    ``stretch``): its training drawings come twice, as two drawings of their class, and a drawing it scores is one
    image of two channels (:func:`framings`' order) that its embedding reads as test-time views of one drawing
    (engine.algorithms.simpleshot.ViewMean). Box and moments disagree where a drawer adds or leaves out a part at
    the edge; a network taught both and reading both is less tied to either (issue #18)."""

    stretch: float = 1.0


#: how a MomentFraming and a BothFramings are named where a framing is written down: the decode cache's key and
#: entry, an export's metadata
BY_MOMENTS, BY_BOTH = "moments", "both"

#: engine.data.images.image_to_tensor's ``frame``: a number (0 as drawn; 1 or more framed to the ink's box, its
#: shorter side stretched that much at most), a :class:`MomentFraming` or a :class:`BothFramings`
Frame = float | MomentFraming | BothFramings


def frame_stretch(frame: Frame) -> float:
    """The stretch ``frame`` allows a drawing's shorter side (0 where it is not framed)."""
    return frame.stretch if isinstance(frame, (MomentFraming, BothFramings)) else float(frame)


def framings(frame: Frame) -> tuple[Frame, ...]:
    """The one-channel framings a drawing is read in, one per channel of the model's input: ``frame`` itself,
    or a BothFramings' moments then box."""
    if isinstance(frame, BothFramings):
        return MomentFraming(frame.stretch), frame.stretch
    return (frame,)


def framed_by(frame: Frame) -> str | None:
    """How ``frame`` is named where it is written down (None for the ink's box, or no framing)."""
    return BY_MOMENTS if isinstance(frame, MomentFraming) else BY_BOTH if isinstance(frame, BothFramings) else None


def framing_named(stretch: float, by: str | None) -> Frame:
    """The framing written down as ``stretch`` and :func:`framed_by`'s name (the reverse of the two)."""
    if not stretch:
        return 0.0
    return MomentFraming(stretch) if by == BY_MOMENTS else BothFramings(stretch) if by == BY_BOTH else stretch
