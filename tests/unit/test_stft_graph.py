"""humwatch.model.stft_graph: the half-overlap sum cut by one Slice per half is bit for bit the
sum cut by a Slice per axis (what bundles trained before it computed), for 2-D and 3-D products."""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.model.graph import GraphBuilder
from humwatch.model.session import create_session
from humwatch.model.stft_graph import overlap_add, slice_axis


def _sum_both_ways(both: np.ndarray, width: int, frame_axis: int) -> tuple[np.ndarray, np.ndarray]:
    g = GraphBuilder("overlap-add")
    x = g.input("both", [None] * both.ndim)
    last = frame_axis + 1
    # The earlier graph: columns first, then frames, each by its own Slice.
    top = slice_axis(g, slice_axis(g, x, 0, width, axis=last), 0, -1, axis=frame_axis)
    bottom = slice_axis(g, slice_axis(g, x, width, 2 * width, axis=last), 1, 2**62, axis=frame_axis)
    g.output(g.op("Add", [top, bottom]), "per_axis", [None] * both.ndim)
    g.output(overlap_add(g, x, width, frame_axis=frame_axis), "one_slice", [None] * both.ndim)
    per_axis, one_slice = create_session(g.serialize()).run(None, {"both": both})
    return per_axis, one_slice


@pytest.mark.parametrize(("shape", "frame_axis"), [((5000, 132), 0), ((313, 258), 0), ((38, 19, 516), 1)])
def test_one_slice_per_half_sums_exactly_what_a_slice_per_axis_summed(
    shape: tuple[int, ...], frame_axis: int
) -> None:
    # Given a MatMul-like product [..., frames, top | bottom]
    both = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
    width = shape[-1] // 2
    # When frame i's top half and frame i+1's bottom half are added both ways
    per_axis, one_slice = _sum_both_ways(both, width, frame_axis)
    # Then the results are the same bits, and what numpy says
    assert one_slice.tobytes() == per_axis.tobytes()
    frames = np.moveaxis(both, frame_axis, 0)
    expected = np.moveaxis(frames[:-1, ..., :width] + frames[1:, ..., width:], 0, frame_axis)
    assert one_slice.tobytes() == expected.tobytes()
