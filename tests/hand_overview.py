"""A valid Dataset overview built by hand (no model), for the tests of overview files and of the pages that show
them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnflow_core.overview import Overview, OverviewSettings
from attnflow_core.shards import RunningSums

L, H = 2, 3  # layers × heads of the hand-made overview (not square, so a transposed array is caught too)


def hand_made(n: int = 3, single: bool = False) -> Overview:
    """A valid overview built by hand (no model): L layers, H heads, ``n`` examples; ``single``: a single-text task
    (segment B absent, so its cross-segment shares are NaN, as ``RunningSums.statistics`` writes them)."""
    rng = np.random.default_rng(0)
    cross = rng.uniform(0, 1, (2, L, 2, 3))
    if single:
        cross[:, :, 1, :] = np.nan
    examples = pd.DataFrame(
        {
            "uid": [f"e{i}" for i in range(n)],
            "text": [f"text {i}" for i in range(n)],
            "text_pair": [None if single else f"pair {i}" for i in range(n)],
            "gold": ["positive", "", "negative"][:n] + ["positive"] * max(0, n - 3),
            "prediction": ["positive"] * n,
            "confidence": [0.9, float("nan"), 0.6][:n] + [0.5] * max(0, n - 3),
            "correct": [True, None, False][:n] + [True] * max(0, n - 3),
            "shift": rng.uniform(0, 1, n),
            "n_tokens": [5 + i % 100 for i in range(n)],  # within OverviewLimits.tokens however many rows
        }
    )
    sums = RunningSums.zeros(L, H)
    return Overview(
        task="sentiment" if single else "qa",
        base_ref="embedded:minilm",
        tuned_ref="embedded:sentiment" if single else "embedded:qa",
        source="demo",
        split="",
        settings=OverviewSettings(n=n, importance=True),
        js_mean=rng.uniform(0, 1, (L, H)),
        js_std=rng.uniform(0, 0.5, (L, H)),
        cross=cross,
        sinks=rng.uniform(0, 1, (2, L, H, 3)),
        behaviour=rng.uniform(0, 1, (2, L, H, 5)),
        examples=examples,
        seconds=1.5,
        forward_seconds=1.0,
        sums=RunningSums(n=n, **{k: v + 1.0 for k, v in vars(sums).items() if k != "n"}),
        shard=(1, 2),
        importance=rng.uniform(0, 1e-3, (L, H)),
    )
