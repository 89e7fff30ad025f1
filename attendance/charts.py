"""Server-side SVG charts, pure functions returning markup (no JavaScript, no colour needed to read them).

Every chart has a <title> and <desc> (screen readers), labelled axes, and writes each value as text next to its
mark; series differ by pattern (solid vs hatched) and marker shape, not only by colour. Output is escaped text that
templates include with |safe: all labels pass through `escape`.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 36, 48

DEFS = (
    "<defs>"
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#333" stroke-width="3"/>'
    "</pattern></defs>"
)


def _frame(title: str, desc: str, body: str, x_label: str, y_label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" aria-labelledby="t d"><title id="t">{escape(title)}</title><desc id="d">{escape(desc)}</desc>'
        f"{DEFS}"
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>'
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#000"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#000"/>'
        f'<text x="{(LEFT + WIDTH - RIGHT) // 2}" y="{HEIGHT - 8}" font-size="12" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="12" y="{(TOP + HEIGHT - BOTTOM) // 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 12 {(TOP + HEIGHT - BOTTOM) // 2})">{escape(y_label)}</text>'
        f"{body}</svg>"
    )


def _y(value: float, top: float) -> float:
    span = HEIGHT - BOTTOM - TOP
    return HEIGHT - BOTTOM - (value / top) * span if top else HEIGHT - BOTTOM


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (index + 0.5) * span / max(count, 1)


def _empty(title: str, message: str) -> str:
    return _frame(
        title,
        message,
        f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle">{escape(message)}</text>',
        "",
        "",
    )


def line_chart(
    title: str,
    points: Sequence[tuple[str, float | None]],
    *,
    x_label: str,
    y_label: str,
    top: float = 100,
    threshold: float | None = None,
    threshold_label: str = "",
    unit: str = "",
    empty: str = "No data",
) -> str:
    """Values over categories (weeks, sessions): a line with square markers and the value written at each point;
    an optional dashed threshold line with its label."""
    if not points:
        return _empty(title, empty)
    body, path = [], []
    for i, (label, value) in enumerate(points):
        x = _x(i, len(points))
        body.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" text-anchor="middle">{escape(label)}</text>'
        )
        if value is None:
            continue
        y = _y(value, top)
        path.append(f"{'M' if not path else 'L'}{x:.1f},{y:.1f}")
        body.append(f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="#000"/>')
        body.append(
            f'<text x="{x:.1f}" y="{y - 7:.1f}" font-size="10" text-anchor="middle">{value:.0f}{escape(unit)}</text>'
        )
    lines = f'<path d="{" ".join(path)}" fill="none" stroke="#1f4e79" stroke-width="2"/>' if path else ""
    if threshold is not None:
        y = _y(threshold, top)
        lines += (
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#000" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - RIGHT}" y="{y - 4:.1f}" font-size="10" text-anchor="end">'
            f"{escape(threshold_label)}</text>"
        )
    desc = "; ".join(f"{label}: {'—' if v is None else f'{v:.0f}{unit}'}" for label, v in points)
    return _frame(title, desc, lines + "".join(body), x_label, y_label)


def step_chart(
    title: str, points: Sequence[tuple[int, int]], *, x_label: str, y_label: str, empty: str = "No data"
) -> str:
    """A drop-out curve: patients still enrolled after each session, as a step line with circle markers."""
    if not points:
        return _empty(title, empty)
    top = max(max(v for _k, v in points), 1)
    body, path = [], []
    for i, (k, value) in enumerate(points):
        x, y = _x(i, len(points)), _y(value, top)
        path.append(f"M{x:.1f},{y:.1f}" if i == 0 else f"H{x:.1f} V{y:.1f}")
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#000"/>')
        body.append(f'<text x="{x:.1f}" y="{y - 7:.1f}" font-size="10" text-anchor="middle">{value}</text>')
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" text-anchor="middle">{k}</text>')
    desc = "; ".join(f"{x_label} {k}: {v}" for k, v in points)
    return _frame(
        title,
        desc,
        f'<path d="{" ".join(path)}" fill="none" stroke="#1f4e79" stroke-width="2"/>' + "".join(body),
        x_label,
        y_label,
    )


def grouped_bars(
    title: str,
    groups: Sequence[tuple[str, float | None, float | None]],
    *,
    series: tuple[str, str],
    x_label: str,
    y_label: str,
    top: float = 10,
    empty: str = "No data",
) -> str:
    """Two bars per category (e.g. before / after): the first solid, the second hatched, values written on top, a
    legend with the same patterns."""
    if not groups:
        return _empty(title, empty)
    body = []
    span = (WIDTH - LEFT - RIGHT) / len(groups)
    bar = min(40.0, span / 3)
    for i, (label, first, second) in enumerate(groups):
        centre = _x(i, len(groups))
        for offset, value, fill in ((-bar, first, "#1f4e79"), (0.0, second, "url(#hatch)")):
            x = centre + offset
            if value is None:
                body.append(
                    f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM - 4}" font-size="10" '
                    'text-anchor="middle">—</text>'
                )
                continue
            y = _y(value, top)
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{HEIGHT - BOTTOM - y:.1f}" fill="{fill}" '
                'stroke="#000"/>'
            )
            body.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="10" text-anchor="middle">{value:g}</text>'
            )
        body.append(
            f'<text x="{centre:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    legend = (
        f'<rect x="{WIDTH - 220}" y="8" width="12" height="12" fill="#1f4e79" stroke="#000"/>'
        f'<text x="{WIDTH - 204}" y="18" font-size="11">{escape(series[0])}</text>'
        f'<rect x="{WIDTH - 120}" y="8" width="12" height="12" fill="url(#hatch)" stroke="#000"/>'
        f'<text x="{WIDTH - 104}" y="18" font-size="11">{escape(series[1])}</text>'
    )
    desc = "; ".join(
        f"{label}: {series[0]} {a if a is not None else '—'}, {series[1]} {b if b is not None else '—'}"
        for label, a, b in groups
    )
    return _frame(title, desc, legend + "".join(body), x_label, y_label)
