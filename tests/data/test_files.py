"""The one file reader: limits checked before materialising (Parquet metadata, streamed CSV/JSONL rows), ragged and
non-text input refused, the one column mapping and the one label parser, the held-out split."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attnflow_core.data.files import (
    MAX_DECODED_BYTES,
    MAX_FILE_BYTES,
    MAX_UPLOAD_MB,
    DataFileError,
    LabelError,
    column_map,
    label_index,
    load_labelled_file,
    prediction_index,
    read_data_file,
    read_eval_file,
    read_table,
    split_heldout,
)
from attnflow_core.data.userfile import gold_label, load_user_file
from attnflow_core.errors import AttnflowError

ROOT = Path(__file__).resolve().parents[2]


def write_bomb(path: Path, rows: int = 10_000_000) -> Path:
    """A Parquet file of ``rows`` identical labelled sentences: tens of KB on disk, gigabytes once built."""
    zeros = pa.array(np.zeros(rows, dtype=np.int8))
    sentence = pa.DictionaryArray.from_arrays(zeros, pa.array(["A wonderful film."]))
    pq.write_table(pa.table({"sentence": sentence, "label": zeros}), path)
    return path


_RSS_SCRIPT = """
import sys
from pathlib import Path
import pyarrow.parquet  # loaded in the app already: the growth measured is the reader's, not the import's
from attnflow_core.data.files import DataFileError, read_data_file, read_table
from attnflow_core.data.userfile import load_user_file

def kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit("no " + field)

Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
before = kb("VmRSS")
upload = lambda p: load_user_file(Path(p).read_bytes(), "sentiment", filename="up.parquet")  # the app's path
for read in (lambda p: read_table(p), lambda p: read_data_file(p, "sentiment"), upload):
    try:
        read(sys.argv[1])
    except DataFileError as exc:
        print("refused:", exc)
    else:
        raise SystemExit("the bomb was read")
print("growth_kb", kb("VmHWM") - before)
"""


def test_parquet_bomb_is_refused_from_metadata_without_growing_the_process(tmp_path: Path) -> None:
    bomb = write_bomb(tmp_path / "bomb.parquet")
    assert bomb.stat().st_size < 160_000
    # A fresh process, so the bomb's construction here does not hide the reader's own peak.
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(bomb)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("refused: the file has 10,000,000 rows, over the limit of 100,000") == 3
    growth_kb = int(out.stdout.split("growth_kb")[1])
    assert growth_kb < 100 * 1024, f"the process grew by {growth_kb / 1024:.0f} MB"


def write_dictionary_bomb(
    path: Path, rows: int = 50_000, chars: int = 21_000, store_schema: bool = True
) -> Path:
    """Issue 20's recipe: ``rows`` rows of one long string stored once in the column's dictionary (about 1 KB on
    disk, ``rows * chars`` bytes of text once decoded); the footer's sizes count the dictionary once. Without
    the Arrow schema (``store_schema=False``, as other tools write Parquet) a reader gets plain strings."""
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    text = ("A wonderful film. " * (chars // 18 + 1))[:chars]
    sentence = pa.DictionaryArray.from_arrays(zeros, pa.array([text]))
    table = pa.table({"sentence": sentence, "label": zeros})
    pq.write_table(table, path, compression="zstd", store_schema=store_schema)
    return path


@pytest.mark.parametrize(("rows", "store_schema"), [(20_000, True), (50_000, False)])
def test_parquet_dictionary_bomb_is_refused_while_decoding_without_growing_the_process(
    tmp_path: Path, rows: int, store_schema: bool
) -> None:
    """Before issue 20 the 20,000-row file was accepted with a 2.8 GB peak (50,000 rows: about 7 GB)."""
    bomb = write_dictionary_bomb(tmp_path / "dict.parquet", rows, store_schema=store_schema)
    assert bomb.stat().st_size < 2_000
    meta = pq.ParquetFile(bomb).metadata
    assert meta.row_group(0).total_byte_size < MAX_DECODED_BYTES  # the footer alone does not tell
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(bomb)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(f"over the limit of {MAX_DECODED_BYTES:,} bytes (200 MB)") == 3, out.stdout
    growth_kb = int(out.stdout.split("growth_kb")[1])
    assert growth_kb < 100 * 1024, f"the process grew by {growth_kb / 1024:.0f} MB"


def test_parquet_decoded_size_counts_dictionary_values_per_use(tmp_path: Path) -> None:
    """A file under the limit reads in full, repeated dictionary values and nested cells included; the same
    dictionary trick inside a list cell of one row is counted too."""
    small = write_dictionary_bomb(tmp_path / "small.parquet", rows=3_000, chars=40)
    table = read_table(small)
    assert len(table) == 3_000 and table.data["sentence"][-1] == ("A wonderful film. " * 3)[:40]
    idx = pa.array(np.zeros(50_000, dtype=np.int32))
    inner = pa.DictionaryArray.from_arrays(idx, pa.array(["x" * 20_000]))
    cell = pa.ListArray.from_arrays(pa.array([0, 50_000], pa.int32()), inner)
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"sentence": cell, "label": [0]}), nested, compression="zstd")
    assert nested.stat().st_size < 2_000
    with pytest.raises(DataFileError, match=f"over the limit of {MAX_DECODED_BYTES:,} bytes"):
        read_table(nested)
    wide = tmp_path / "wide.parquet"  # a million zeros per column: the cells alone are the bomb
    pq.write_table(pa.table({f"c{i}": np.zeros(100_000, dtype=np.int8) for i in range(80)}), wide)
    with pytest.raises(DataFileError, match="once decoded, over the limit"):
        read_table(wide)


def test_streamed_rows_stop_at_the_limit(tmp_path: Path) -> None:
    csv_path = tmp_path / "many.csv"
    csv_path.write_text("sentence\n" + "x\n" * 30, encoding="utf-8")
    with pytest.raises(DataFileError, match="more than 20 rows, over the limit of 20"):
        read_table(csv_path, max_rows=20)
    lines = tmp_path / "many.jsonl"
    lines.write_text('{"sentence": "x"}\n' * 30, encoding="utf-8")
    with pytest.raises(DataFileError, match="more than 20 rows"):
        read_table(lines, max_rows=20)
    array = json.dumps([{"sentence": "x"}] * 30).encode()
    with pytest.raises(DataFileError, match="more than 20 rows"):
        read_table(array, filename="a.json", max_rows=20)
    assert len(read_table(array, filename="a.json")) == 30


def test_ragged_csv_rows_are_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("label,sentence\n1,Fine.\n1,A wonderful, moving film.\n", encoding="utf-8")
    with pytest.raises(
        DataFileError, match=r"line 3 has 3 field\(s\) but the header has 2 \(label, sentence\)"
    ):
        load_user_file(path, "sentiment")
    path.write_text('label,sentence\n1,Fine.\n1,"A wonderful, moving film."\n', encoding="utf-8")
    assert load_user_file(path, "sentiment")["sentence"] == ["Fine.", "A wonderful, moving film."]
    path.write_text("sentence,sentence\na,b\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="column name\\(s\\) 'sentence' repeat; rename them"):
        read_table(path)


def test_non_text_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"sentence": [{"a": "b"}, {"a": "c"}], "label": [0, 1]}), path)
    with pytest.raises(
        DataFileError, match=r"column 'sentence' \(sentence\) holds non-text values \(dict in row"
    ):
        load_user_file(path, "sentiment")
    numbers = b'{"sentence": "ok", "label": 1}\n{"sentence": 5, "label": 0}\n'
    with pytest.raises(DataFileError, match=r"non-text values \(int in row\(s\) 2\)"):
        load_user_file(numbers, "sentiment", filename="n.jsonl")


def test_folder_garbage_and_non_objects_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="is a folder, not a file"):
        read_data_file(tmp_path, "sentiment")
    with pytest.raises(DataFileError, match="no such file"):
        read_eval_file(tmp_path / "missing.csv", "sentiment")
    with pytest.raises(
        DataFileError, match="/dev/zero is not a regular file"
    ):  # issue 20: not "no such file"
        read_data_file("/dev/zero", "sentiment")
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(1, 256)) * 4)
    with pytest.raises(DataFileError, match="cannot read the file as CSV: it is not UTF-8 text"):
        read_eval_file(garbage, "sentiment")
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"sentence,label\nab\x00c,1\n")
    with pytest.raises(AttnflowError, match="it holds a NUL byte at offset 17, so it is not a text file"):
        read_data_file(nul, "sentiment")
    with pytest.raises(DataFileError, match="line 2 is a JSON list, not an object"):
        read_table(b'{"sentence": "a"}\n[1, 2]\n', filename="x.jsonl")
    with pytest.raises(DataFileError, match=r"cannot read the file as JSONL \(line 2"):
        read_table(b'{"sentence": "a"}\n{"sentence": \n', filename="x.jsonl")


def test_one_column_mapping_automatic_and_explicit() -> None:
    assert column_map("nli", ["sentence1", "sentence2", "label", "idx"]) == {
        "premise": "sentence1",
        "hypothesis": "sentence2",
        "label": "label",
    }
    assert column_map("sentiment", ["text", "y", "id"], {"label": "y", "uid": "id"}) == {
        "uid": "id",
        "sentence": "text",
        "label": "y",
    }
    with pytest.raises(DataFileError, match=r"choose the column for 'sentence' in the boxes above") as err:
        column_map("sentiment", ["body", "label"])
    assert "mapping=" not in str(err.value) and "available columns: body, label" in str(err.value)


def test_eval_file_detects_binary_nli_and_requires_labels(tmp_path: Path) -> None:
    rte = tmp_path / "rte.jsonl"
    rows = [
        {"sentence1": "A", "sentence2": "B", "label": 1},
        {"sentence1": "C", "sentence2": "D", "label": 0},
    ]
    rte.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ds, binary = read_eval_file(rte, "nli")
    assert binary and ds["premise"] == ["A", "C"] and ds["label"] == ["not_entailment", "entailment"]
    half = tmp_path / "half.csv"
    half.write_text("sentence,label\na,1\nb,\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"1 unlabelled row\(s\) \(first: row 2\)"):
        read_data_file(half, "sentiment")


def test_labels_are_glue_integers_or_names() -> None:
    assert label_index(0, "nli") == 0
    assert label_index(np.int64(2), "nli") == 2
    assert label_index("Neutral", "nli") == 1
    assert label_index("2", "nli") == 2
    assert label_index(1.0, "nli") == 1
    assert label_index("contradiction", "nli", binary_nli=True) == 1
    for bad in (3, -1, "maybe", True, None):
        with pytest.raises(LabelError):
            label_index(bad, "nli")
    assert prediction_index("Contradiction", "nli", binary_nli=True) == 1
    with pytest.raises(LabelError, match="generic LABEL_k names"):
        prediction_index("1", "nli")


def test_heldout_split_is_seeded_disjoint_and_independent_of_row_order() -> None:
    ds = datasets.Dataset.from_dict(
        {
            "sentence": [f"s{i}" for i in range(50)],
            "label": [i % 2 for i in range(50)],
            "idx": list(range(50)),
        }
    )
    train, held = split_heldout(ds, 0.1, seed=42)
    assert (len(train), len(held)) == (45, 5)
    assert not set(train["idx"]) & set(held["idx"])
    again = split_heldout(ds, 0.1, seed=42)[1]
    assert again["idx"] == held["idx"]
    shuffled = ds.shuffle(seed=1)
    assert sorted(split_heldout(shuffled, 0.1, seed=42)[1]["idx"]) == sorted(held["idx"])
    assert split_heldout(ds, 0.1, seed=43)[1]["idx"] != held["idx"]
    with pytest.raises(DataFileError, match="fraction"):
        split_heldout(ds, 0.0, seed=1)


def test_gold_label_of_an_uploaded_row() -> None:
    rows = load_labelled_file(b"question,sentence,label\nWho?,Ann.,0\nWhy?,No.,\n", "qa", filename="f.csv")
    assert gold_label(rows, "qa", "Who?", "Ann.") == "entailment"
    assert gold_label(rows.to_pandas(), "qa", " Who? ", "Ann.") == "entailment"
    assert gold_label(rows, "qa", "Why?", "No.") is None  # unlabelled
    assert gold_label(rows, "qa", "Who?", "Bob.") is None  # no such row


def test_the_uploaders_limit_is_the_readers(tmp_path: Path) -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert config["server"]["fileWatcherType"] == "none"  # no inotify watch over a .venv inside the repo
    with pytest.raises(DataFileError, match="over the limit of 10"):
        read_table(b"sentence\nabcdefghijkl\n", filename="a.csv", max_bytes=10)
    # One unit (issue 20): the uploader's browser side counts 50 MB as 50 * 10^6 bytes (Streamlit divides by
    # 1000 outside Windows), so the CLI's reader refuses a file the app would refuse (before: up to 50 MiB).
    assert MAX_FILE_BYTES == MAX_UPLOAD_MB * 1_000_000
    big = tmp_path / "big.csv"
    with big.open("wb") as f:  # sparse: no disk used, refused from its size before it is read
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(
        DataFileError, match=r"is 50,000,001 bytes, over the limit of 50,000,000 bytes \(50 MB\)"
    ):
        read_table(big)


def test_finetune_evaluate_and_userfile_never_import_each_other() -> None:
    names = {"finetune": "attnflow_core.finetune", "evaluate": "attnflow_core.evaluate"}
    names["userfile"] = "attnflow_core.data.userfile"
    for name, module in names.items():
        path = ROOT / (module.replace(".", "/") + ".py")
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
        others = {m for n, m in names.items() if n != name}
        assert not imported & others, f"{name} imports {imported & others}"
