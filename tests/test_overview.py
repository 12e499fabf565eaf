"""Dataset overview: golden statistics on a hand-built case, invariants, batching = one at a time, file round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from attnflow_core.compare import js_divergence
from attnflow_core.data.sources import Example
from attnflow_core.models import ModelPair, is_registered_ref, load_pair
from attnflow_core.overview import (
    OverviewFileError,
    OverviewSettings,
    behaviour_labels,
    cache_key,
    compute_overview,
    example_shift,
    example_stats,
    layer_reading,
    load_overview,
    read_cached_overview,
    save_overview,
    shift_from_stats,
)
from attnflow_core.paths import WriteError
from tiny import make_tiny_bert_dir, write_vocab

# Tokens: [CLS] (special), t1 (segment A), t2 (segment B). Layer 1 as below, layer 2 the identity.
L1 = np.array([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.2, 0.3, 0.5]])
ATTN = np.stack([L1, np.eye(3)])[:, None]  # (2 layers, 1 head, 3, 3)


def test_example_stats_golden() -> None:
    st = example_stats(ATTN, segments=[0, 0, 1], special=[0], punct=[], mode="keep")
    # Sinks: share to [CLS] = mean of column 0 = (1 + .5 + .2) / 3; layer 2: 1/3. No [SEP], no punctuation.
    np.testing.assert_allclose(st["sinks"][:, 0], [[(1 + 0.5 + 0.2) / 3, 0, 0], [1 / 3, 0, 0]])
    # Behaviour, layer 1, means over the 3 rows: previous (0 + .5 + .3)/3, next (0 + .25 + 0)/3,
    # self (1 + .25 + .5)/3, special (column 0) 1.7/3, entropy (0 + H(.5,.25,.25) + H(.2,.3,.5)) / ln 3 / 3.
    h1 = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    h2 = -(0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5))
    expected = [0.8 / 3, 0.25 / 3, 1.75 / 3, 1.7 / 3, (h1 + h2) / np.log(3) / 3]
    np.testing.assert_allclose(st["behaviour"][0, 0], expected)
    # Layer 2 (identity): self 1, everything else 0.
    np.testing.assert_allclose(st["behaviour"][1, 0], [0, 0, 1, 1 / 3, 0])
    # Cross-segment, layer 1: t1 (A) gives .25 to A, .25 to B, .5 to specials; t2 (B) gives .3, .5, .2.
    np.testing.assert_allclose(st["cross"][0], [[0.25, 0.25, 0.5], [0.3, 0.5, 0.2]])
    np.testing.assert_allclose(st["cross_count"], [1, 1])


def test_renormalised_stats_drop_special_rows_and_columns() -> None:
    st = example_stats(ATTN, segments=[0, 0, 1], special=[0], punct=[], mode="renormalise")
    # Rows of t1, t2 renormalised without [CLS]: t1 -> (0, .5, .5), t2 -> (0, .375, .625); [CLS] row left out.
    np.testing.assert_allclose(st["behaviour"][0, 0, :4], [0.375 / 2, 0.5 / 2, (0.5 + 0.625) / 2, 0.0])
    np.testing.assert_allclose(st["cross"][0], [[0.5, 0.5, 0.0], [0.375, 0.625, 0.0]])
    np.testing.assert_allclose(st["sinks"][0, 0, 0], 1.7 / 3)  # sinks always use the raw attention


def test_shift_of_a_model_against_itself_is_zero() -> None:
    assert np.all(example_shift(ATTN, ATTN.copy(), [0], "keep") == 0)
    other = ATTN.copy()
    other[0, 0, 1] = [0.0, 0.0, 1.0]
    shift = example_shift(ATTN, other, [0], "keep")
    assert shift[0, 0] > 0 and shift[1, 0] == 0


def test_behaviour_rule() -> None:
    stats = np.array(
        [
            [0.6, 0.1, 0.1, 0.1, 0.3],  # previous token
            [0.1, 0.7, 0.1, 0.1, 0.3],  # next token
            [0.1, 0.1, 0.6, 0.1, 0.3],  # self
            [0.1, 0.1, 0.1, 0.8, 0.3],  # sink
            [0.1, 0.1, 0.1, 0.1, 0.9],  # broad
            [0.3, 0.3, 0.2, 0.2, 0.5],  # mixed
        ]
    )
    assert behaviour_labels(stats).tolist() == [
        "previous token", "next token", "self", "[CLS]/[SEP] sink", "broad", "mixed",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("tiny-overview")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return load_pair(str(root / "base"), str(root / "tuned"))


EXAMPLES = [
    Example("e1", "what is the capital of france ?", "paris is the capital", "positive"),
    Example("e2", "good movie", "not bad at all", "negative"),
    Example("e3", "who won the game", "the team won it", "positive"),
    Example("e4", "i love it", "it was great film and i like it a lot", ""),
]


def test_batched_equals_one_at_a_time(tiny_pair) -> None:
    one = compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=4, batch_size=1))
    batched = compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=4, batch_size=3))
    for name in ("js_mean", "js_std", "cross", "sinks", "behaviour"):
        np.testing.assert_allclose(getattr(one, name), getattr(batched, name), atol=1e-5, err_msg=name)
    assert one.examples["uid"].tolist() == ["e1", "e2", "e3", "e4"]
    np.testing.assert_allclose(one.examples["shift"], batched.examples["shift"], atol=1e-5)
    assert one.examples["correct"].tolist()[3] is None  # unlabelled example
    np.testing.assert_allclose(one.sinks.sum(-1) <= 1 + 1e-6, True)
    assert "Layer" in layer_reading(one)


def test_model_against_itself_shows_zero_change(tiny_pair) -> None:
    from attnflow_core.models import ModelPair

    same = ModelPair(base=tiny_pair.tuned, tuned=tiny_pair.tuned)
    ov = compute_overview(same, EXAMPLES, "qa", OverviewSettings(n=4))
    assert np.all(ov.js_mean == 0) and np.all(ov.examples["shift"] == 0)
    np.testing.assert_allclose(ov.cross[0], ov.cross[1])


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_file_round_trip(tiny_pair, tmp_path: Path, suffix: str) -> None:
    ov = compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=3), source="demo", split="demo")
    path = save_overview(ov, tmp_path / f"ov{suffix}")
    back = load_overview(path)
    for name in ("js_mean", "js_std", "cross", "sinks", "behaviour"):
        np.testing.assert_allclose(getattr(back, name), getattr(ov, name), err_msg=name)
    assert back.settings == ov.settings and back.task == "qa" and back.source == "demo"
    assert back.examples["uid"].tolist() == ov.examples["uid"].tolist()
    assert load_overview(path.read_bytes(), path.name).n_examples == 3


@pytest.mark.slow
def test_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's defaults: the embedded MiniLM and its QNLI adapter (real models, hence slow)."""
    from attnflow_core.__main__ import main

    out = tmp_path / "qa.parquet"
    assert main(["overview", "--task", "qa", "--n", "5", "--out", str(out), "--source", "demo"]) == 0
    assert "wrote" in capsys.readouterr().out
    ov = load_overview(out)
    assert ov.n_examples == 5 and ov.js_mean.shape == (6, 12) and ov.tuned_ref == "embedded:qa"


def test_norm_measure_matches_the_single_example_path(tiny_pair) -> None:
    """Under the norm measure, the overview's per-model sinks equal those of ``extract`` + ``apply_measure`` on the
    same example (the norms come from the batched forward pass, padding included), and differ from the weights'."""
    from attnflow_core.extract import extract
    from attnflow_core.measures import apply_measure

    ov = compute_overview(tiny_pair, EXAMPLES[:2], "qa", OverviewSettings(n=2, batch_size=2, measure="norm"))
    raw = compute_overview(
        tiny_pair, EXAMPLES[:2], "qa", OverviewSettings(n=2, batch_size=2, measure="attention")
    )
    means = []
    for ex in EXAMPLES[:2]:
        r = extract(tiny_pair, ex.text, ex.text_pair)
        means.append(apply_measure(r.attn_tuned, r.vnorm_tuned, "norm")[..., 0].mean(-1))  # share to [CLS]
    np.testing.assert_allclose(ov.sinks[1, ..., 0], np.mean(means, axis=0), atol=1e-5)
    assert not np.allclose(ov.sinks, raw.sinks)


def test_measure_is_in_the_cache_key_and_the_file(tiny_pair, tmp_path: Path) -> None:
    a, b = OverviewSettings(n=1, measure="norm"), OverviewSettings(n=1, measure="attention")
    assert cache_key("x", "y", "qa", "demo", "", a) != cache_key("x", "y", "qa", "demo", "", b)
    path = save_overview(compute_overview(tiny_pair, EXAMPLES, "qa", b), tmp_path / "ov.json")
    assert load_overview(path).settings.measure == "attention"
    import json

    meta = json.loads(path.read_text())
    assert meta["settings"]["measure"] == "attention"
    del meta["settings"]["measure"]  # a file from before the measure existed: computed on the weights
    old = tmp_path / "old.json"
    old.write_text(json.dumps(meta))
    assert load_overview(old).settings.measure == "attention"


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="n must be at least 1"):
        OverviewSettings(n=0).validate()
    with pytest.raises(ValueError, match="special must be"):
        OverviewSettings(special="exclude").validate()
    with pytest.raises(ValueError, match="measure must be one of"):
        OverviewSettings(measure="alti").validate()
    with pytest.raises(ValueError, match=r"\.json or \.parquet"):
        load_overview(b"{}", "x.csv")
    with pytest.raises(ValueError, match="not .*overview"):
        load_overview(b'{"schema": "other"}', "x.json")


# ---------------------------------------------------------------- head change map: golden values across examples


class FixedAttention:
    """A stand-in for a transformers model: returns hand-built attention (L, H, 3, 3) per example, chosen by the
    example's one word (input_ids[:, 1]), so compute_overview's statistics can be worked out by hand."""

    def __init__(self, by_word: dict[int, np.ndarray], logits: dict[int, list[float]] | None = None) -> None:
        self.by_word, self.logits = by_word, logits

    def __call__(self, input_ids: Any, output_attentions: bool = False, **_: Any) -> SimpleNamespace:
        import torch

        words = input_ids[:, 1].tolist()
        att = torch.tensor(np.stack([self.by_word[w] for w in words]), dtype=torch.float32)  # (B, L, H, n, n)
        out = SimpleNamespace(attentions=tuple(att[:, layer] for layer in range(att.shape[1])))
        if self.logits is not None:
            out.logits = torch.tensor([self.logits[w] for w in words])
        return out


def _moved(rows: tuple[int, ...]) -> np.ndarray:
    """One head's 3×3 attention: the identity, with each listed row moved to the next token (a disjoint one-hot,
    so that row's JS divergence against the identity is exactly 1 bit)."""
    a = np.eye(3)
    for r in rows:
        a[r] = np.roll(np.eye(3)[r], 1)
    return a


SENT_LABELS = ("negative", "positive")
FIXED_EXAMPLES = [
    Example("good", "good", None, "positive"),
    Example("bad", "bad", None, "negative"),
    Example("movie", "movie", None, "negative"),
]


@pytest.fixture(scope="module")
def fixed_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelPair, dict[str, int]]:
    """1 layer × 2 heads; the base attends to itself everywhere. Rows moved in the tuned model, per example:
    'good' head 0 one row, head 1 none; 'bad' head 0 two rows, head 1 one; 'movie' head 0 none, head 1 all three."""
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=str(write_vocab(tmp_path_factory.mktemp("vocab"))), do_lower_case=True)
    ids = {w: tok.convert_tokens_to_ids(w) for w in ("good", "bad", "movie")}
    same = np.stack([np.eye(3), np.eye(3)])[None]  # (1, 2, 3, 3)
    moved = {"good": ((1,), ()), "bad": ((0, 2), (1,)), "movie": ((), (0, 1, 2))}
    tuned = {ids[w]: np.stack([_moved(h0), _moved(h1)])[None] for w, (h0, h1) in moved.items()}
    # Predictions: 'good' positive, 'bad' positive (wrong), 'movie' negative.
    logits = {ids["good"]: [0.0, 2.0], ids["bad"]: [0.0, 1.0], ids["movie"]: [3.0, 0.0]}

    def loaded(ref: str, model: Any, labels: tuple[str, ...] | None) -> Any:
        return SimpleNamespace(
            ref=ref, model=model, tokenizer=tok, label_names=labels, num_layers=1, num_heads=2, max_length=64
        )

    base = loaded("fixed-base", FixedAttention({i: same for i in ids.values()}), None)
    pair = ModelPair(base=base, tuned=loaded("fixed-tuned", FixedAttention(tuned, logits), SENT_LABELS))
    return pair, ids


def test_fixed_attention_moves_the_rows_it_says(fixed_pair: tuple[ModelPair, dict[str, int]]) -> None:
    """The per-example, per-head JS the golden test below starts from (1/3 bit per moved row of three)."""
    import torch

    pair, ids = fixed_pair
    expected = {"good": [1 / 3, 0], "bad": [2 / 3, 1 / 3], "movie": [0, 1]}
    for word, js in expected.items():
        input_ids = torch.tensor([[2, ids[word], 3]])
        a = pair.base.model(input_ids).attentions[0][0].numpy()
        b = pair.tuned.model(input_ids).attentions[0][0].numpy()
        np.testing.assert_allclose(js_divergence(a, b).mean(-1), js, atol=1e-7, err_msg=word)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_head_change_map_golden_across_examples(
    fixed_pair: tuple[ModelPair, dict[str, int]], batch_size: int
) -> None:
    """js_mean / js_std are the mean and (population) standard deviation over examples of each head's JS; an
    example's shift is its mean JS over all heads."""
    pair, _ = fixed_pair
    settings = OverviewSettings(n=3, batch_size=batch_size, measure="attention")
    ov = compute_overview(pair, FIXED_EXAMPLES, "sentiment", settings)
    # Head 0: JS 1/3, 2/3, 0 -> mean 1/3; E[x²] = (1/9 + 4/9 + 0) / 3 = 5/27, var = 5/27 - 1/9 = 2/27.
    # Head 1: JS 0, 1/3, 1 -> mean 4/9; E[x²] = (0 + 1/9 + 1) / 3 = 10/27, var = 10/27 - 16/81 = 14/81.
    np.testing.assert_allclose(ov.js_mean, [[1 / 3, 4 / 9]], atol=1e-6)
    np.testing.assert_allclose(ov.js_std, [[np.sqrt(2 / 27), np.sqrt(14) / 9]], atol=1e-6)
    # Shift = mean over the 2 heads: good (1/3 + 0) / 2, bad (2/3 + 1/3) / 2, movie (0 + 1) / 2.
    assert ov.examples["uid"].tolist() == ["good", "bad", "movie"]
    np.testing.assert_allclose(ov.examples["shift"], [1 / 6, 1 / 2, 1 / 2], atol=1e-6)
    np.testing.assert_allclose(ov.layer_change(), [(1 / 3 + 4 / 9) / 2], atol=1e-6)
    assert ov.examples["prediction"].tolist() == ["positive", "positive", "negative"]
    assert ov.examples["correct"].tolist() == [True, False, True]
    assert ov.base_ref == "fixed-base" and ov.tuned_ref == "fixed-tuned"


def test_accuracy_counts_the_labelled_examples(fixed_pair: tuple[ModelPair, dict[str, int]]) -> None:
    """Two of the three fixed examples are predicted right; an unlabelled example would not count."""
    pair, _ = fixed_pair
    ov = compute_overview(pair, FIXED_EXAMPLES, "sentiment", OverviewSettings(n=3, measure="attention"))
    assert ov.accuracy() == pytest.approx(2 / 3)
    unlabelled = [Example(e.uid, e.text, e.text_pair, None) for e in FIXED_EXAMPLES]
    assert (
        compute_overview(pair, unlabelled, "sentiment", OverviewSettings(n=3, measure="attention")).accuracy()
        is None
    )


def test_head_change_map_of_one_example_has_no_spread(fixed_pair: tuple[ModelPair, dict[str, int]]) -> None:
    """One example: the mean is that example's JS and the standard deviation is 0."""
    pair, _ = fixed_pair
    ov = compute_overview(pair, FIXED_EXAMPLES[1:2], "sentiment", OverviewSettings(n=1, measure="attention"))
    np.testing.assert_allclose(ov.js_mean, [[2 / 3, 1 / 3]], atol=1e-6)
    np.testing.assert_allclose(ov.js_std, [[0.0, 0.0]], atol=1e-6)


# ---------------------------------------------------------------- the disk-cache key


def test_cache_key_follows_the_models_files_and_label_names(tmp_path: Path) -> None:
    """The overview cache must not serve stale results for a retrained model or relabelled classes."""
    base = make_tiny_bert_dir(tmp_path / "base", with_head=False, seed=0)
    tuned = make_tiny_bert_dir(tmp_path / "tuned", with_head=True, seed=1)
    settings = OverviewSettings(n=5)

    def key(labels: tuple[str, ...] | None = None) -> str:
        return cache_key(str(base), str(tuned), "sentiment", "demo", "", settings, labels)

    first = key()
    assert key() == first  # equal inputs, equal keys
    assert key(("negative", "positive")) != first
    assert key(("negative", "positive")) != key(("positive", "negative"))
    assert cache_key(str(base), str(tuned), "sentiment", "demo", "", OverviewSettings(n=6)) != first
    weights = tuned / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"\0")  # a retrained model: other size
    assert key() != first


@pytest.mark.parametrize("mode", ["keep", "renormalise"])
def test_shift_from_stats_equals_example_shift(mode: str) -> None:
    """The overview's fast shift (reusing each model's row entropies) is the same JS divergence as example_shift."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 2, 3, 6, 6)) * 2.0
    e = np.exp(logits - logits.max(-1, keepdims=True))
    a, b = e / e.sum(-1, keepdims=True)
    special, segs = [0, 5], [0, 0, 0, 1, 1, 1]
    stats = [example_stats(x, segs, special, [], mode) for x in (a, b)]
    np.testing.assert_allclose(
        shift_from_stats(*stats), example_shift(a, b, special, mode), rtol=1e-10, atol=1e-12
    )
    assert shift_from_stats(stats[0], stats[0]).max() == 0.0  # a model against itself


# ---------------------------------------------------------------- file safety: atomic writes, unreadable cache entries,
# crafted overview files


@pytest.fixture(scope="module")
def small_overview(tiny_pair):
    return compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=3), source="demo", split="demo")


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    small_overview, tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    path = save_overview(small_overview, tmp_path / f"ov{suffix}")
    before = path.read_bytes()

    def half_then_full_disk(_what: Any, where: Any, *args: Any, **kwargs: Any) -> None:
        Path(where).write_bytes(b"half a fi")
        raise OSError(28, "No space left on device")

    if suffix == ".json":
        monkeypatch.setattr(Path, "write_text", lambda self, text: half_then_full_disk(None, self))
    else:
        monkeypatch.setattr(pq, "write_table", half_then_full_disk)
    with pytest.raises(WriteError, match="No space left on device; free some space"):
        save_overview(small_overview, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_folder_is_not_an_overview_file(small_overview, tmp_path: Path) -> None:
    (tmp_path / "x.json").mkdir()
    with pytest.raises(WriteError, match="is a folder"):
        save_overview(small_overview, tmp_path / "x.json")


@pytest.mark.parametrize("cut", [0, 10, 200])
def test_a_truncated_cache_entry_reads_as_missing(
    small_overview, tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = save_overview(small_overview, tmp_path / "entry.json")
    assert read_cached_overview(path) is not None
    path.write_bytes(path.read_bytes()[:cut])
    with caplog.at_level("WARNING", logger="attnflow_core.overview"):
        assert read_cached_overview(path) is None
    assert "unreadable, recomputing it" in caplog.text
    assert not path.exists()  # removed, so the next visit computes it again
    assert read_cached_overview(tmp_path / "never-written.json") is None


def _crafted(ov: Any, tmp_path: Path, **changes: Any) -> bytes:
    path = save_overview(ov, tmp_path / "ok.json")
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if key in meta["arrays"]:
            meta["arrays"][key] = value
        else:
            meta[key] = value
    return json.dumps(meta).encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "evil"}, "the file's task 'evil' is not one of sentiment, qa, nli"),
        ({"examples": []}, "the file has no examples"),
        ({"tuned_ref": ["/etc"]}, r"the file's tuned_ref must be a string; got \['/etc'\]"),
        ({"js_std": [[0.0]]}, r"js_std has shape \(1, 1\), not \(2, 2\) \(2 layers × 2 heads\)"),
        ({"sinks": [1, 2]}, r"sinks has shape \(2,\)"),
        ({"js_mean": [[0.1], [0.2, 0.3]]}, "not a readable Attention Flows overview"),
        ({"settings": {"n": 0}}, "n must be at least 1"),
        ({"settings": {"evil": 1}}, "not a readable Attention Flows overview"),
    ],
)
def test_crafted_overview_files_are_refused(
    small_overview, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    data = _crafted(small_overview, tmp_path, **changes)
    with pytest.raises(OverviewFileError, match=message):
        load_overview(data, "crafted.json")
    with pytest.raises(OverviewFileError, match="not a readable"):
        load_overview(b"[1, 2]", "list.json")
    with pytest.raises(OverviewFileError, match="not a readable"):
        load_overview(b"PAR1 but no more", "cut.parquet")


def test_only_registered_refs_count_as_registered() -> None:
    assert is_registered_ref("embedded:qa") and is_registered_ref("embedded:minilm")
    assert is_registered_ref("textattack/bert-base-uncased-MNLI")
    assert not is_registered_ref("/etc") and not is_registered_ref("someone/any-model")
