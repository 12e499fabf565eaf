"""Colours and small helpers shared by the Bokeh builders (one visual language across all views)."""

from __future__ import annotations

BASE = "#16a085"  # pre-trained model: turquoise
TUNED = "#8e44ad"  # fine-tuned model: purple
SHARED = "#e67e22"  # edges both models keep: orange, distinct from both
NEUTRAL = "#95a5a6"
TEXT = "#2c3e50"
SEGMENT_FILL = ("#f4f6f7", "#fdf2e9")  # background of segment A / segment B
HIGHLIGHT = "#e74c3c"

STATUS_COLOURS = {"shared": SHARED, "base": BASE, "tuned": TUNED}
STATUS_LABELS = {"shared": "both models", "base": "pre-trained only", "tuned": "fine-tuned only"}
MODEL_LABELS = {"base": "pre-trained", "tuned": "fine-tuned"}

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def rgba(hex_colour: str, alpha: float) -> str:
    """'#rrggbb' with an alpha in [0, 1] as a CSS rgba() string."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    a = min(max(float(alpha), 0.0), 1.0)
    return f"rgba({r},{g},{b},{a:.3f})"
