"""Chart geometry for the HTML report: rectangles and text the template draws as inline SVG."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from evals.metrics import ClassScore, Confusion

__all__ = ["Chart", "Rect", "Text", "bar_chart", "matrix_chart"]

_CELL = 34
_FONT = 11
_CHAR = 6.2  # average glyph width at the report's font size, for laying out labels
_GOOD, _BAD, _EMPTY = (46, 125, 50), (198, 40, 40), "#f4f4f4"
_PRECISION, _RECALL = "#1565c0", "#ef6c00"


class Rect(BaseModel):
    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str = ""


class Text(BaseModel):
    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    text: str
    anchor: Literal["start", "middle", "end"] = "start"
    rotate: float = 0.0
    bold: bool = False
    fill: str = "#222"


class Chart(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    width: float
    height: float
    rects: tuple[Rect, ...] = ()
    texts: tuple[Text, ...] = ()


def matrix_chart(title: str, matrix: Confusion, *, rows: str = "expected", cols: str = "predicted") -> Chart:
    """A confusion matrix: rows expected, columns predicted, shade by share of the row."""
    labels = matrix.labels
    left = max((len(label) for label in labels), default=0) * _CHAR + 16
    top = max((len(label) for label in labels), default=0) * _CHAR * 0.72 + 30
    rects: list[Rect] = []
    texts: list[Text] = [
        Text(x=left + len(labels) * _CELL / 2, y=12, text=cols, anchor="middle", bold=True),
        Text(x=4, y=top - 6, text=rows, bold=True),
    ]
    for j, label in enumerate(labels):
        x = left + j * _CELL + _CELL / 2
        texts.append(Text(x=x, y=top - 6, text=label, rotate=-45.0))
    for i, row_label in enumerate(labels):
        row_total = sum(matrix.counts[i]) or 1
        y = top + i * _CELL
        texts.append(Text(x=left - 6, y=y + _CELL / 2 + 4, text=row_label, anchor="end"))
        for j, count in enumerate(matrix.counts[i]):
            x = left + j * _CELL
            share = count / row_total
            fill = _EMPTY if count == 0 else _shade(_GOOD if i == j else _BAD, share)
            tip = f"expected {row_label}, predicted {labels[j]}: {count}"
            rects.append(Rect(x=x, y=y, w=_CELL - 2, h=_CELL - 2, fill=fill, title=tip))
            if count:
                ink = "#fff" if share > 0.55 else "#222"
                texts.append(Text(x=x + _CELL / 2 - 1, y=y + _CELL / 2 + 3, text=str(count), anchor="middle", fill=ink))
    # The last column's label leans right past the grid by about its length times cos 45°.
    width = left + len(labels) * _CELL + max((len(label) for label in labels), default=0) * _CHAR * 0.72 + 10
    return Chart(title=title, width=width, height=top + len(labels) * _CELL + 6, rects=tuple(rects), texts=tuple(texts))


def bar_chart(title: str, scores: Sequence[ClassScore], *, span: float = 320) -> Chart:
    """Precision and recall of each label as paired horizontal bars, with the support beside them."""
    left = max((len(s.label) for s in scores), default=0) * _CHAR + 16
    row = 28
    top = 30
    rects: list[Rect] = []
    texts = [
        Text(x=left, y=14, text="precision", fill=_PRECISION, bold=True),
        Text(x=left + 80, y=14, text="recall", fill=_RECALL, bold=True),
    ]
    for i, score in enumerate(scores):
        y = top + i * row
        texts.append(Text(x=left - 6, y=y + 14, text=score.label, anchor="end"))
        rects.append(Rect(x=left, y=y, w=span, h=20, fill=_EMPTY))
        for k, (name, value, colour) in enumerate(
            (("precision", score.scores.precision, _PRECISION), ("recall", score.scores.recall, _RECALL))
        ):
            shown = "n/a" if value is None else f"{value:.2f}"
            rects.append(Rect(x=left, y=y + k * 10, w=span * (value or 0.0), h=9, fill=colour, title=f"{name} {shown}"))
        p, r = (_short(v) for v in (score.scores.precision, score.scores.recall))
        texts.append(Text(x=left + span + 6, y=y + 14, text=f"P {p}  R {r}  n={score.support}"))
    height = top + len(scores) * row + 4
    return Chart(title=title, width=left + span + 170, height=height, rects=tuple(rects), texts=tuple(texts))


def _short(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _shade(rgb: tuple[int, int, int], share: float) -> str:
    strength = 0.18 + 0.82 * share
    mixed = (round(255 - (255 - c) * strength) for c in rgb)
    return "#" + "".join(f"{c:02x}" for c in mixed)
