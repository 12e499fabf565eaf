"""Overview files are read within limits (issue 20): a small crafted file is refused before it builds gigabytes, in
the CLI's merge-overviews and the app's reader alike (both call ``load_overview``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attnflow_core.overview import (
    OVERVIEW_LIMITS,
    Overview,
    OverviewFileError,
    OverviewLimits,
    OverviewSettings,
    load_overview,
    save_overview,
)
from attnflow_core.settings import SettingsError

ROOT = Path(__file__).resolve().parents[1]
L, H = 2, 2


def _overview(n: int = 2) -> Overview:
    """A valid overview built by hand (no model): L=2 layers, H=2 heads, ``n`` examples."""
    examples = pd.DataFrame(
        {
            "uid": [f"e{i}" for i in range(n)],
            "text": ["a good film"] * n,
            "text_pair": [None] * n,
            "gold": ["positive"] * n,
            "prediction": ["positive"] * n,
            "confidence": [0.9] * n,
            "correct": [True] * n,
            "shift": [0.1] * n,
            "n_tokens": [5] * n,
        }
    )
    return Overview(
        task="sentiment",
        base_ref="embedded:minilm",
        tuned_ref="embedded:sentiment",
        source="demo",
        split="demo",
        settings=OverviewSettings(n=n),
        js_mean=np.zeros((L, H)),
        js_std=np.zeros((L, H)),
        cross=np.zeros((2, L, 2, 3)),
        sinks=np.zeros((2, L, H, 3)),
        behaviour=np.zeros((2, L, H, 5)),
        examples=examples,
        seconds=1.0,
        forward_seconds=0.5,
    )


def _metadata(tmp_path: Path) -> bytes:
    """The ``attnflow`` metadata of a valid Parquet overview."""
    path = save_overview(_overview(), tmp_path / "valid.parquet")
    return pq.ParquetFile(path).schema_arrow.metadata[b"attnflow"]


def _constant(rows: int, value: str) -> pa.ChunkedArray:
    """``rows`` copies of ``value`` as a plain string column that shares one 1,000-row chunk (little memory here);
    the writer dictionary-encodes it, so the file holds ``value`` once while its schema says plain strings."""
    chunk = pa.array([value] * min(rows, 1_000))
    return pa.chunked_array([chunk] * (rows // len(chunk)))


def write_overview_bomb(path: Path, meta: bytes, rows: int, text_chars: int) -> Path:
    """A Parquet overview of ``rows`` (a multiple of 1,000) examples whose text is one ``text_chars``-character
    string kept once in the column's dictionary: tiny on disk, ``rows * text_chars`` bytes of text once decoded."""
    zeros = np.zeros(rows)
    table = pa.table(
        {
            "uid": _constant(rows, "e"),
            "text": _constant(rows, "x" * text_chars),
            "text_pair": _constant(rows, ""),
            "gold": _constant(rows, "positive"),
            "prediction": _constant(rows, "positive"),
            "confidence": zeros,
            "correct": pa.array(np.ones(rows, dtype=bool)),
            "shift": zeros,
            "n_tokens": np.full(rows, 5, dtype=np.int64),
        }
    )
    pq.write_table(table.replace_schema_metadata({b"attnflow": meta}), path, compression="zstd")
    return path


_RSS_SCRIPT = """
import sys
from pathlib import Path
from attnflow_core.cli import main
from attnflow_core.overview import OverviewFileError, load_overview
import pyarrow.parquet  # loaded by the app already: the growth measured is the reader's

def kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit("no " + field)

Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
before = kb("VmRSS")
for path in sys.argv[1:]:
    try:
        load_overview(Path(path).read_bytes(), Path(path).name)  # the app's upload
    except OverviewFileError as exc:
        print("refused:", exc)
    else:
        raise SystemExit("the bomb was read: " + path)
    assert main(["merge-overviews", path, "--out", str(Path(path).with_suffix(".out.json"))]) == 2
print("growth_kb", kb("VmHWM") - before)
"""


def test_overview_bombs_are_refused_without_growing_the_process(tmp_path: Path) -> None:
    """The issue's files: 10^7 example rows (before: an 11.6 GB peak) and 2 GB of text (before: 3.4 GB in
    merge-overviews), each well under a megabyte on disk; and a JSON file of six million empty rows."""
    meta = _metadata(tmp_path)
    rows_bomb = write_overview_bomb(tmp_path / "rows.parquet", meta, 10_000_000, 10)
    text_bomb = write_overview_bomb(tmp_path / "text.parquet", meta, 100_000, 20_000)
    assert rows_bomb.stat().st_size < 1_000_000 and text_bomb.stat().st_size < 200_000
    blob = json.loads(meta)
    blob["examples"] = "ROWS"
    json_bomb = tmp_path / "values.json"
    json_bomb.write_text(json.dumps(blob).replace('"ROWS"', "[" + "{}," * 6_000_000 + "{}]"))
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(rows_bomb), str(text_bomb), str(json_bomb)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "the file has 10,000,000 rows, over the limit of 1,000,000" in out.stdout
    assert f"once decoded, over the limit of {OVERVIEW_LIMITS.text_bytes:,} bytes" in out.stdout
    assert "JSON values, over the limit of 5,000,000" in out.stdout
    assert out.stdout.count("error: ") == 0  # the CLI's error lines went to stderr
    assert out.stderr.count("error: ") == 3 and "unexpected problem" not in out.stderr
    growth_kb = int(out.stdout.split("growth_kb")[1])
    assert growth_kb < 150 * 1024, f"the process grew by {growth_kb / 1024:.0f} MB"


def test_limits_on_size_tokens_and_shape(tmp_path: Path) -> None:
    path = save_overview(_overview(), tmp_path / "ok.json")
    data = path.read_bytes()
    assert load_overview(data, "ok.json").n_examples == 2
    with pytest.raises(OverviewFileError, match=r"is \d[\d,]* bytes, over the limit of 100 bytes"):
        load_overview(data, "ok.json", limits=OverviewLimits(file_bytes=100))
    with pytest.raises(OverviewFileError, match=r"is \d[\d,]* bytes, over the limit"):
        load_overview(path, limits=OverviewLimits(file_bytes=100))  # a path: refused from its size
    with pytest.raises(OverviewFileError, match="holds 2 examples, over the limit of 1"):
        load_overview(data, "ok.json", limits=OverviewLimits(examples=1))
    with pytest.raises(OverviewFileError, match="2 layers × 2 heads, over the limit of 1 × 128"):
        load_overview(data, "ok.json", limits=OverviewLimits(layers=1))
    meta = json.loads(data)
    meta["examples"][0]["n_tokens"] = 10**9
    with pytest.raises(OverviewFileError, match="n_tokens must be token counts from 0 to 512"):
        load_overview(json.dumps(meta).encode(), "big.json")
    with pytest.raises(OverviewFileError, match="is not a regular file"):
        load_overview(tmp_path, "folder.json")
    parquet = save_overview(_overview(), tmp_path / "ok.parquet")
    back = load_overview(parquet)
    pd.testing.assert_frame_equal(back.examples, _overview().examples)
    with pytest.raises(SettingsError, match="n must be at most 1,000,000"):
        OverviewSettings(n=OVERVIEW_LIMITS.examples + 1).validate()
