"""Head importance on the embedded QA pair (slow: real model): zeroing the most important heads matters more.

The QA counterpart was trained on GLUE QNLI validation rows idx < 4000 with 10 % held out (``finetune --heldout 0.1
--seed 42``); ../shared holds no QNLI row beyond idx 4000, so the rows used here are from that held-out 10 %, which
the model never trained on. The importance map comes from 24 held-out rows and the ablation is measured on 24 other
held-out rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attnflow_core.data.files import read_eval_file, split_heldout
from attnflow_core.importance import importance_of_texts, top_heads
from attnflow_core.interventions import intervene
from attnflow_core.models import load_model

QNLI = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue-train" / "qnli" / "train.jsonl"


@pytest.mark.slow
def test_zeroing_top3_heads_lowers_gold_probability_far_more_than_bottom3() -> None:
    if not QNLI.exists():
        pytest.skip(
            f"the QNLI rows this test needs are in the project's shared test data ({QNLI}), absent here"
        )
    ds, _ = read_eval_file(QNLI, "qa")
    held = split_heldout(ds, 0.1, 42)[1]
    rows = [held[i] for i in range(48)]
    fit, test = rows[:24], rows[24:]
    tuned = load_model("embedded:qa")
    names = tuned.label_names
    assert names is not None
    imp = importance_of_texts(
        tuned, [r["question"] for r in fit], [r["sentence"] for r in fit], [r["label"] for r in fit]
    ).mean(0)
    top, bottom = top_heads(imp, 3), top_heads(imp, 3, largest=False)
    drops: dict[str, list[float]] = {"top": [], "bottom": []}
    for r in test:
        enc = tuned.tokenizer(r["question"], r["sentence"], truncation=True, max_length=256)
        for key, heads in (("top", top), ("bottom", bottom)):
            rep = intervene(tuned.model, enc["input_ids"], enc["token_type_ids"], names, "zero", heads)
            drops[key].append(rep.confidence("before", r["label"]) - rep.confidence("after", r["label"]))
    top_drop, bottom_drop = float(np.mean(drops["top"])), float(np.mean(drops["bottom"]))
    print(f"top-3 heads {top}: mean gold-probability drop {top_drop:.4f}")
    print(f"bottom-3 heads {bottom}: mean gold-probability drop {bottom_drop:.4f}")
    assert top_drop > 0.03
    assert top_drop > 5 * abs(bottom_drop)
