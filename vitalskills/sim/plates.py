"""Plates with rectangular holes, tiled by boxes.

MuJoCo collides primitive geoms far more reliably than meshes, so a plate with holes
(a socket face, a USB port, a keyway) is built from the boxes that tile it.
"""

from __future__ import annotations

from itertools import pairwise


def plate_boxes(
    extent: tuple[float, float, float, float],
    holes: list[tuple[float, float, float, float]],
) -> list[tuple[float, float, float, float]]:
    """Tile a rectangle minus rectangular holes with as few axis-aligned boxes as is easy.

    Args:
        extent: (x0, x1, y0, y1) of the plate.
        holes: (cx, cy, half_x, half_y) of each hole, inside the plate.

    Returns:
        (cx, cy, half_x, half_y) of each box; their union is the plate minus the holes.
    """
    x0, x1, y0, y1 = extent
    xs = sorted({x0, x1, *(h[0] - h[2] for h in holes), *(h[0] + h[2] for h in holes)})
    ys = sorted({y0, y1, *(h[1] - h[3] for h in holes), *(h[1] + h[3] for h in holes)})

    def free(x: float, y: float) -> bool:
        return not any(abs(x - h[0]) < h[2] and abs(y - h[1]) < h[3] for h in holes)

    columns: list[tuple[float, float, list[tuple[float, float]]]] = []
    for xa, xb in pairwise(xs):
        spans: list[tuple[float, float]] = []
        for ya, yb in pairwise(ys):
            if not free((xa + xb) / 2, (ya + yb) / 2):
                continue
            if spans and abs(spans[-1][1] - ya) < 1e-12:
                spans[-1] = (spans[-1][0], yb)
            else:
                spans.append((ya, yb))
        if columns and columns[-1][2] == spans and abs(columns[-1][1] - xa) < 1e-12:
            columns[-1] = (columns[-1][0], xb, spans)
        else:
            columns.append((xa, xb, spans))
    return [
        ((xa + xb) / 2, (ya + yb) / 2, (xb - xa) / 2, (yb - ya) / 2)
        for xa, xb, spans in columns
        for ya, yb in spans
    ]
