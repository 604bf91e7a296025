"""Independent reference for the renderer: exact area of the J inside each output pixel.

The J is the union of two rectangles in template coordinates (the bar and the foot).  Bilinear
interpolation of the binary template puts each edge half a template pixel outside the last 1-pixel,
so the bar spans columns [99.5, 199.5] x rows [-0.5, 299.5] and the foot columns [-0.5, 199.5] x rows
[199.5, 299.5].  Each rectangle is mapped with the renderer's affine map, converted to output-pixel
coordinates (canvas pixel u covers [u - 1/2, u + 1/2]; output pixel j covers canvas [16j - 1/2,
16j + 15.5]), and clipped against every pixel square (Sutherland-Hodgman); inclusion-exclusion gives
the union's area.  No OpenCV is involved.
"""

import numpy as np

BAR = (99.5, 199.5, -0.5, 299.5)  # col_lo, col_hi, row_lo, row_hi
FOOT = (-0.5, 199.5, 199.5, 299.5)
OVERLAP = (99.5, 199.5, 199.5, 299.5)


def _polygon_area(poly):
    if len(poly) < 3:
        return 0.0
    x, y = np.asarray(poly).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _clip(poly, inside, intersect):
    out = []
    for i, current in enumerate(poly):
        previous = poly[i - 1]
        if inside(current):
            if not inside(previous):
                out.append(intersect(previous, current))
            out.append(current)
        elif inside(previous):
            out.append(intersect(previous, current))
    return out


def _clip_box(poly, x0, x1, y0, y1):
    def cut(axis, bound, keep_below):
        def inside(p):
            return p[axis] <= bound if keep_below else p[axis] >= bound

        def intersect(p, q):
            t = (bound - p[axis]) / (q[axis] - p[axis])
            return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

        return inside, intersect

    for axis, bound, below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        if not poly:
            return poly
        poly = _clip(poly, *cut(axis, bound, below))
    return poly


def exact_coverage(affine: np.ndarray, supersample: int = 16, size: int = 32) -> np.ndarray:
    """(size, size) array: area of the mapped J inside each output pixel."""

    def mapped(rect):
        c0, c1, r0, r1 = rect
        corners = np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1]])
        canvas = corners @ affine[:, :2].T + affine[:, 2]
        return [tuple(p) for p in (canvas + 0.5) / supersample]

    polygons = [(mapped(BAR), 1), (mapped(FOOT), 1), (mapped(OVERLAP), -1)]
    out = np.zeros((size, size))
    for poly, sign in polygons:
        xs, ys = zip(*poly, strict=True)
        for row in range(max(0, int(min(ys))), min(size, int(max(ys)) + 1)):
            for col in range(max(0, int(min(xs))), min(size, int(max(xs)) + 1)):
                out[row, col] += sign * _polygon_area(_clip_box(poly, col, col + 1, row, row + 1))
    return out
