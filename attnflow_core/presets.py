"""Built-in views a student should see first: the paper's teaser and two findings, each a page plus URL query.

A preset is the app's URL state (``urlstate.URL_PARAMS``, written with ``urlstate.url_query``) for one page; the
app opens it with ``preset=<key>`` added, which makes the query replace the current selection. The claims were checked with the
embedded MiniLM pair (``tests/test_presets.py`` re-checks them; README "Presets" reports the numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from attnflow_core.urlstate import PRESET_PARAM, url_query

# The paper's teaser (Attention Flows, VIS 2020, Fig. 1), shipped in the QA demo set under this stable id.
TEASER_UID = "qnli-val-31"
TEASER_QUESTION = "What are those from Jacksonville sometimes called?"
TEASER_SENTENCE = (
    'People from Jacksonville may be called "Jacksonvillians" or "Jaxsons" (also spelled "Jaxons").'
)
TEASER_SOURCE_TOKEN = 1  # "what": [CLS] what are those ... in the BERT/MiniLM WordPiece vocabulary
TEASER_ATTRIBUTION = (
    "GLUE QNLI, validation idx 31 (Wang et al. 2018; QNLI derives from SQuAD, Rajpurkar et al. 2016, CC BY-SA 4.0); "
    "the example of the Attention Flows paper's teaser figure. The embedded QA counterpart was fine-tuned on GLUE "
    "QNLI validation rows idx 0–3999 with a seeded 10 % held out (seed 42); idx 31 is one of the 400 held-out "
    "rows, so the model did not train on it (it did train on its neighbours)."
)


@dataclass(frozen=True)
class Preset:
    """One built-in view: ``query`` is the URL state (parameter, value) pairs; ``page`` the app page's url path."""

    key: str
    title: str
    explanation: str
    page: str  # "flow" or "heads"
    query: tuple[tuple[str, str], ...]

    @property
    def query_dict(self) -> dict[str, str]:
        return {**dict(self.query), PRESET_PARAM: self.key}

    def url(self) -> str:
        """The relative link that opens this view (in a new session or the current one)."""
        return f"/{self.page}?{urlencode(self.query_dict)}"


_TEASER = {"task": "qa", "source": "demo", "example": TEASER_UID}

PRESETS: tuple[Preset, ...] = (
    Preset(
        key="teaser",
        title="The paper's teaser: trace from *what*",
        explanation=(
            "The paper's Fig. 1: trace back from the question word *what* in the deepest layer and compare which "
            "words each model reaches. Under norm-weighted attention the answer WordPieces (jackson ##vill ##ians, "
            "jax ##sons, jax ##ons) get about 8 % of the pre-trained and 5 % of the fine-tuned trace's score; under "
            "the raw weights they get almost nothing (both models put 93 % on [CLS]/[SEP]/punctuation)."
        ),
        page="flow",
        query=url_query(**_TEASER, src=TEASER_SOURCE_TOKEN, measure="norm"),
    ),
    Preset(
        key="sinks-weights",
        title="[CLS]/[SEP] are sinks in weights …",
        explanation=(
            "Rollout from [CLS] with the raw attention weights: most of the mass (62 % in the fine-tuned model, "
            "66 % in the pre-trained one on the teaser) ends on [CLS]/[SEP]."
        ),
        page="flow",
        query=url_query(**_TEASER, method="rollout", measure="attention"),
    ),
    Preset(
        key="sinks-norms",
        title="… not in norms",
        explanation=(
            "The same rollout under norm-weighted attention: the vectors [CLS]/[SEP] carry are small, so only "
            "21 % (fine-tuned) and 18 % (pre-trained) of the mass ends there (Kobayashi et al. 2020)."
        ),
        page="flow",
        query=url_query(**_TEASER, method="rollout", measure="norm"),
    ),
    Preset(
        key="last-layers",
        title="Fine-tuning changes the last layers most",
        explanation=(
            "The head differences of the teaser: the mean JS divergence per head is ≤ 0.04 in layers 1–3 and "
            "0.14–0.17 in layers 4–6 of the embedded QA pair (Kovaleva et al. 2019 found the same for BERT)."
        ),
        page="heads",
        query=url_query(**_TEASER, measure="norm"),
    ),
)
