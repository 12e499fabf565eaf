"""Reproduce Ferrando et al. (2022)'s faithfulness comparison on the embedded sentiment pair, with AOPC for both models.

    python benchmarks/bench_faithfulness.py [--n 200] [--seed 0] [--threads 1] [--saliencies gradient,ig,...]

The published comparison ("Measuring the Mixing of Contextual Information in the Transformer", Table/Figure on
SST-2; their code: mt-upc/transformer-contributions, ``attributions.py`` and ``data/bert_sst2_correlations.json``):
textattack BERT-base fine-tuned on SST-2, 500 random sentences of the SST-2 test split, Spearman ρ over all tokens
between the [CLS] row of each method and gradient saliency (‖∂p(predicted class)/∂embedding‖₂ per token, Captum
``Saliency``), mean over sentences: raw attention 0.29 (the last layer's attention, averaged over heads), attention
rollout −0.03 (½·A + ½·I), norm-based 0.41 (Kobayashi et al. 2021's ‖attention + residual + LN1 term‖, rolled out
without an identity), ALTI 0.55 (rolled out without an identity).

Here: the embedded pair (``embedded:minilm`` → ``embedded:sentiment``, 6 layers × 12 heads), N rows of SST-2
validation drawn with a fixed seed (the sentiment counterpart was trained on vaderSentiment snippets decontaminated
against these rows). Rows as the paper; "norm (ours)" is ``measures.norm_weighted`` (Kobayashi et al. 2020, no
residual) rolled out with ½·I, "norm-based (K2021)" is ``contributions.residual_norm``. The same rankings of the
pre-trained encoder are judged against the fine-tuned model's saliency and decision (``faithfulness``). Then AOPC
(comprehensiveness, sufficiency) of every flow method × measure of both models, the saliencies and a random floor;
and the time of each measure (its forward pass plus its computation, both models) relative to ``norm``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import json
import random
import time
from collections import defaultdict
from typing import Any

import numpy as np

from attnflow_core.agreement import spearman
from attnflow_core.contributions import alti, globenc, residual_norm
from attnflow_core.encoding import encode
from attnflow_core.extract import forward_batch, forward_internals
from attnflow_core.faithfulness import (
    AOPC_COMP,
    AOPC_SUFF,
    RANDOM,
    FaithfulnessSums,
    RankingId,
    example_faithfulness,
    faithfulness_sentence,
    flow_rankings,
    model_predictor,
    random_scores,
    saliency_id,
)
from attnflow_core.internals import encoder_layers
from attnflow_core.measures import MEASURES as REGISTERED
from attnflow_core.measures import norm_weighted
from attnflow_core.methods import METHODS, flow_scores
from attnflow_core.models import load_pair
from attnflow_core.saliency import SALIENCY_METHODS, all_saliencies
from attnflow_core.value_zeroing import value_zeroing

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue-eval" / "sst2" / "validation.jsonl"
MEASURES = ("attention", "norm", "residual-norm", "alti", "globenc", "value-zeroing")
#: The published comparison's rows: (label, flow method, measure, published ρ or None).
PAPER_ROWS = (
    ("raw attention (last layer)", "raw", "attention", 0.29),
    ("attention rollout", "rollout", "attention", -0.03),
    ("norm (ours: Kobayashi 2020) rollout", "rollout", "norm", None),
    ("norm-based (Kobayashi 2021) rollout", "rollout", "residual-norm", 0.41),
    ("ALTI rollout", "rollout", "alti", 0.55),
    ("GlobEnc rollout", "rollout", "globenc", None),
    ("value zeroing rollout", "rollout", "value-zeroing", None),
)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def model_measures(model: Any, batch: dict[str, Any], clock: dict[str, float]) -> dict[str, np.ndarray]:
    """Every measure of one model on one example (batch of 1), each timed with the forward pass it needs."""
    (attn, _, _), t_plain = timed(forward_batch, model, batch)
    (attn_n, _, vnorm), t_norms = timed(forward_batch, model, batch, with_norms=True)
    (attn_i, _, _, inner), t_int = timed(forward_internals, model, batch)
    assert vnorm is not None and inner is not None
    one = inner.example(0)
    out = {"attention": attn[0]}
    out["norm"], t = timed(norm_weighted, attn_n[0], vnorm[0])
    clock["attention"] += t_plain
    clock["norm"] += t_norms + t
    for name, fn in (("residual-norm", residual_norm), ("alti", alti), ("globenc", globenc)):
        out[name], t = timed(fn, one, attn_i[0])
        clock[name] += t_int + t
    out["value-zeroing"], t = timed(value_zeroing, encoder_layers(model.model), one.hidden)
    clock["value-zeroing"] += t_int + t
    return out


def rankings_of(measured: dict[str, np.ndarray], model: str) -> dict[RankingId, np.ndarray]:
    """Every flow from [CLS] (residual-aware), plus the paper's raw attention (last layer, head mean, [CLS] row).
    ``residual-norm`` is not one of the app's measures (``measures.MEASURES``): its flows add no ½·I either."""
    out = flow_rankings({k: v for k, v in measured.items() if k in REGISTERED}, model, source=0)
    per_token = np.asarray(measured["residual-norm"])[:, None]
    for method in METHODS:
        out[RankingId(model, str(method), "residual-norm")] = flow_scores(
            per_token, method, 0, residual=False
        )
    out[RankingId(model, "raw", "attention")] = measured["attention"][-1].mean(0)[0].astype(np.float64)
    return out


def paired(a: list[float], b: list[float]) -> str:
    """Mean of a − b over examples where both are finite, with a 95 % normal interval."""
    d = np.asarray(a) - np.asarray(b)
    d = d[np.isfinite(d)]
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    verdict = "holds" if d.mean() - half > 0 else "reversed" if d.mean() + half < 0 else "not resolved"
    return f"{d.mean():+.3f} ± {half:.3f} ({verdict})"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--saliencies", default=",".join(SALIENCY_METHODS))
    parser.add_argument("--json", default=None, help="also write the aggregated rows to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in SST2.read_text().splitlines() if line.strip()]
    picked = random.Random(args.seed).sample(range(len(rows)), min(args.n, len(rows)))
    sal_methods = tuple(s for s in args.saliencies.split(",") if s)
    pair = load_pair("embedded:minilm", "embedded:sentiment")
    print(f"N = {len(picked)} SST-2 validation rows (seed {args.seed}); embedded:minilm + embedded:sentiment; "
          f"saliencies {sal_methods}; torch threads {torch.get_num_threads()}")  # fmt: skip
    sums, clock = FaithfulnessSums(), defaultdict[str, float](float)
    rho: dict[RankingId, list[float]] = defaultdict(list)
    correct, t0 = 0, time.perf_counter()
    for done, i in enumerate(picked, 1):
        enc = encode(pair.tokenizer, rows[i]["sentence"], max_length=args.max_length)
        ids = torch.tensor([enc.input_ids])
        batch = {
            "input_ids": ids,
            "token_type_ids": torch.tensor([enc.segment_ids]),
            "attention_mask": torch.ones_like(ids),
        }
        rankings: dict[RankingId, np.ndarray] = {}
        for side, model in (("base", pair.base), ("tuned", pair.tuned)):
            rankings |= rankings_of(model_measures(model, batch, clock), side)
        sal, t = timed(all_saliencies, pair.tuned.model, enc.input_ids, enc.segment_ids, enc.special_positions,
                       pair.tokenizer.pad_token_id or 0, sal_methods)  # fmt: skip
        clock["saliencies"] += t
        target = next(iter(sal.values())).target
        correct += int(target == rows[i]["label"])
        rankings |= {saliency_id(k): v.magnitude for k, v in sal.items()}
        rankings[RANDOM] = random_scores(enc.n, args.seed * 100_003 + i)
        predict = model_predictor(
            pair.tuned.model, enc.input_ids, enc.segment_ids, target, pair.tokenizer.pad_token_id or 0
        )
        one, t = timed(
            example_faithfulness,
            rankings,
            {k: v.scores for k, v in sal.items()},
            enc.special_positions,
            predict,
        )
        clock["deletion curves"] += t
        sums = sums + one
        grad = np.abs(sal["gradient"].scores) if "gradient" in sal else None
        for rid, scores in rankings.items():
            if grad is not None:
                rho[rid].append(spearman(scores, grad))
        if done % 20 == 0 or done == len(picked):
            print(f"  {done}/{len(picked)} examples, {time.perf_counter() - t0:.0f} s", flush=True)
    report(sums, rho, clock, correct, len(picked), args.json)


def report(sums: FaithfulnessSums, rho: dict[RankingId, list[float]], clock: dict[str, float], correct: int,
           n: int, json_path: str | None) -> None:  # fmt: skip
    print(f"\nfine-tuned model's accuracy on these rows: {correct / n:.3f}")
    if rho:
        print(
            "\nSpearman ρ with gradient saliency, all tokens, [CLS] row (mean ± std over examples, finite ρ only)"
        )
        print(f"{'method':38} {'fine-tuned':>16} {'pre-trained':>16} {'published':>10}")
        for label, method, measure, pub in PAPER_ROWS:
            cells = []
            for side in ("tuned", "base"):
                v = np.asarray(rho[RankingId(side, method, measure)])
                v = v[np.isfinite(v)]
                cells.append(f"{v.mean():.3f} ± {v.std():.2f}")
            print(f"{label:38} {cells[0]:>16} {cells[1]:>16} {'' if pub is None else f'{pub:.2f}':>10}")
        print("\nPublished orderings, fine-tuned model (paired mean difference of ρ, 95 % interval):")
        for a, b in ((("rollout", "alti"), ("rollout", "residual-norm")), (("rollout", "residual-norm"), ("raw", "attention")),
                     (("raw", "attention"), ("rollout", "attention")), (("rollout", "alti"), ("raw", "attention"))):  # fmt: skip
            ra, rb = rho[RankingId("tuned", *a)], rho[RankingId("tuned", *b)]
            print(f"  {a[0]} over {a[1]} > {b[0]} over {b[1]}: {paired(ra, rb)}")
    rows = sums.rows()
    aopc = {(r.ranking, r.metric): r for r in rows if r.metric in (AOPC_COMP, AOPC_SUFF)}
    print(
        "\nAOPC against the fine-tuned decision (comprehensiveness ↑ / sufficiency ↓; deletion, k = 10…50 %)"
    )
    print(f"{'ranking':44} {'pre-trained':>15} {'fine-tuned':>15}")
    flows = sorted({(r.method, r.measure) for r, _ in aopc if r.method not in ("saliency", "random")})
    for method, measure in flows:
        cells = []
        for side in ("base", "tuned"):
            c, s = (
                aopc[(RankingId(side, method, measure), AOPC_COMP)],
                aopc[(RankingId(side, method, measure), AOPC_SUFF)],
            )
            cells.append(f"{c.value:.3f} / {s.value:.3f}")
        print(f"{method + ' over ' + measure:44} {cells[0]:>15} {cells[1]:>15}")
    for rid in sorted(
        {r for r, _ in aopc if r.model not in ("base",) and r.method in ("saliency", "random")}
    ):
        c, s = aopc[(rid, AOPC_COMP)], aopc[(rid, AOPC_SUFF)]
        print(f"{rid.label:44} {'':>15} {c.value:.3f} / {s.value:.3f}")
    print("\n" + faithfulness_sentence(rows))
    ref = clock["norm"]
    print(
        "\nTime per measure (its forward pass + its computation, both models, all examples), relative to norm:"
    )
    for name in (*MEASURES, "saliencies", "deletion curves"):
        print(f"  {name:16} {clock[name]:8.1f} s  {clock[name] / ref:6.2f}x")
    if json_path:
        out = [{"model": r.ranking.model, "method": r.ranking.method, "measure": r.ranking.measure,
                "metric": r.metric, "reference": r.reference, "value": r.value, "n": r.n} for r in rows]  # fmt: skip
        Path(json_path).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
