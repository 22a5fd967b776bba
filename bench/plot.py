"""Small line plots drawn with Pillow (already a dependency): axes, ticks, one line per series, a legend."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

Series = dict[str, list[tuple[float, float]]]
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
W, H = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 40, 60


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(n + 2) if start + i * step <= hi + step * 0.01]


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:g}" if v == int(v) else f"{v:.2f}"


def line_plot(path: Path, title: str, series: Series, *, xlabel: str, ylabel: str, log_x: bool = False) -> Path:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    points = [p for s in series.values() for p in s]
    if not points:
        d.text((LEFT, H // 2), "no data", fill="black", font=font)
        img.save(path, "PNG")
        return path

    def fx(x: float) -> float:
        return math.log10(x) if log_x else x

    xs = [fx(x) for x, _ in points]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    y_hi = max(y for _, y in points) * 1.1 or 1.0
    y_ticks = _ticks(0.0, y_hi)
    y_hi = max(y_ticks[-1], y_hi)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (fx(x) - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return TOP + ph - y / y_hi * ph

    d.text((LEFT, 12), title, fill="black", font=font)
    d.line([(LEFT, TOP), (LEFT, TOP + ph), (LEFT + pw, TOP + ph)], fill="black", width=1)
    for t in y_ticks:
        y = py(t)
        d.line([(LEFT - 4, y), (LEFT, y)], fill="black")
        d.line([(LEFT + 1, y), (LEFT + pw, y)], fill=(230, 230, 230))
        d.text((8, y - 6), _fmt(t), fill="black", font=font)
    x_values = sorted({x for x, _ in points})
    for x in x_values:
        X = px(x)
        d.line([(X, TOP + ph), (X, TOP + ph + 4)], fill="black")
        d.text((X - 12, TOP + ph + 8), _fmt(x), fill="black", font=font)
    d.text((LEFT + pw // 2 - 40, H - 22), xlabel + (" (log scale)" if log_x else ""), fill="black", font=font)
    d.text((8, TOP - 16), ylabel, fill="black", font=font)
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = [(px(x), py(y)) for x, y in sorted(pts)]
        if len(coords) > 1:
            d.line(coords, fill=colour, width=2)
        for X, Y in coords:
            d.ellipse([X - 3, Y - 3, X + 3, Y + 3], fill=colour)
        ly = TOP + 6 + 14 * i
        d.line([(LEFT + pw - 200, ly + 6), (LEFT + pw - 180, ly + 6)], fill=colour, width=2)
        d.text((LEFT + pw - 175, ly), name, fill="black", font=font)
    img.save(path, "PNG")
    return path
