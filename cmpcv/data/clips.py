"""Which frames of a video make the clip around an annotated frame.

Two settings cover the CMPC-V literature (spec ``cmpc_model.md`` §1b-1c):

* the released R2D model: 5 frames at offsets ``-8, -4, 0, +4, +7`` of the annotated frame
  (clip indices ``[0, 4, 8, 12, 15]`` of a 16-frame window);
* contiguous 8- or 16-frame windows for I3D, ``[t - T//2, t + (T+1)//2)`` as MTTR builds them.

In both the annotated frame sits at clip index ``T // 2``. Indices that fall outside the video
are clamped to its first or last frame, as the released code and MTTR do.
"""
from __future__ import annotations

from collections.abc import Sequence

R2D_OFFSETS = (-8, -4, 0, 4, 7)


class ClipSampler:
    """Map an annotated frame to the 0-based frame indices of its clip.

    Args:
        offsets: explicit offsets from the annotated frame, ascending, with ``offsets[T // 2] == 0``.
        num_frames: length ``T`` of a contiguous window (used when ``offsets`` is None).
        stride: step between the frames of a contiguous window.

    With neither ``offsets`` nor ``num_frames`` the released R2D offsets are used.
    """

    def __init__(self, offsets: Sequence[int] | None = None, num_frames: int | None = None, stride: int = 1) -> None:
        if offsets is not None and num_frames is not None:
            raise ValueError("ClipSampler: give either offsets or num_frames, not both")
        if stride < 1:
            raise ValueError(f"ClipSampler: stride must be >= 1, got {stride}")
        if offsets is None:
            if num_frames is None:
                offsets = R2D_OFFSETS
            else:
                if num_frames < 1:
                    raise ValueError(f"ClipSampler: num_frames must be >= 1, got {num_frames}")
                offsets = [(k - num_frames // 2) * stride for k in range(num_frames)]
        offsets = tuple(int(o) for o in offsets)
        if not offsets:
            raise ValueError("ClipSampler: offsets must not be empty")
        if list(offsets) != sorted(offsets):
            raise ValueError(f"ClipSampler: offsets must be ascending, got {list(offsets)}")
        if offsets[len(offsets) // 2] != 0:
            # Every consumer finds the annotated frame at T // 2; a clip that breaks this would
            # silently supervise the wrong frame.
            raise ValueError(
                f"ClipSampler: the annotated frame must be at clip index T // 2 = {len(offsets) // 2}, "
                f"i.e. offsets[{len(offsets) // 2}] == 0; got offsets {list(offsets)}"
            )
        self.offsets = offsets

    @property
    def num_frames(self) -> int:
        """Clip length ``T``."""
        return len(self.offsets)

    @property
    def center(self) -> int:
        """Clip index of the annotated frame, ``T // 2``."""
        return len(self.offsets) // 2

    def indices(self, frame: int, video_length: int) -> list[int]:
        """0-based frame indices of the clip around 0-based ``frame`` in a video of ``video_length`` frames."""
        if video_length < 1:
            raise ValueError(f"video has no frames (length {video_length})")
        if not 0 <= frame < video_length:
            raise ValueError(f"annotated frame {frame} (0-based) is outside the video's {video_length} frames")
        last = video_length - 1
        return [min(max(frame + o, 0), last) for o in self.offsets]

    def __repr__(self) -> str:
        return f"ClipSampler(offsets={list(self.offsets)})"
