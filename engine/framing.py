"""How a model frames a drawing before it sees it: a value small enough to travel in configs, exports and the
window's calls, and free of torch so that the window can pass it along. engine.data.images does the framing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MomentFraming:
    """A model's framing where its drawings are framed by their ink's moments
    (:func:`engine.data.images.frame_moments`) rather than their ink's box; ``stretch`` as the box's."""

    stretch: float = 1.0


#: how a MomentFraming is named where a framing is written down: the decode cache's key and entry, an export's metadata
BY_MOMENTS = "moments"

#: engine.data.images.image_to_tensor's ``frame``: a number (0 as drawn; 1 or more framed to the ink's box, its
#: shorter side stretched that much at most) or a :class:`MomentFraming`
Frame = float | MomentFraming


def frame_stretch(frame: Frame) -> float:
    """The stretch ``frame`` allows a drawing's shorter side (0 where it is not framed)."""
    return frame.stretch if isinstance(frame, MomentFraming) else float(frame)
