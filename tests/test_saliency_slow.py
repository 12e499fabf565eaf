"""Saliency memory on the embedded sentiment pair (slow: real model, about a minute and a half on two CPU cores).

Issue 20: four saliency runs on 2,000-character texts raised the server's peak RSS 1.2 → 2.8 → 3.6 → 5.3 GB. Each
run's forward passes returned every attention map (the app loads its models with ``output_attentions=True``) and
occlusion ran all n − 1-token variants in one batch: about 1.4 GB above the loaded models per 128-token run, which
the allocator then kept per thread. Runs in batches (``IG_BATCH``, ``OCCLUSION_BATCH``) without attention maps stay
within a few hundred MB, and repeated runs hold no more than the first.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A 128-token run's peak above the loaded models (measured: about 330 MB after the fix, 1,400 MB before).
PEAK_GROWTH_MB = 600
#: How much more the process may hold after a later run than after the second.
HELD_DRIFT_MB = 50


@pytest.mark.slow
def test_repeated_saliency_runs_on_long_texts_stay_bounded() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_saliency_memory.py"),
            "--runs",
            "3",
            "--max-length",
            "128",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = float(re.search(r"loaded: rss (\d+) MB", out.stdout).group(1))  # type: ignore[union-attr]
    runs = [(float(p), float(h)) for p, h in re.findall(r"peak (\d+) MB, held (\d+) MB", out.stdout)]
    assert len(runs) == 3 and "128 tokens" in out.stdout, out.stdout
    for peak, _ in runs:
        assert peak - loaded < PEAK_GROWTH_MB, out.stdout
    assert runs[2][1] - runs[1][1] < HELD_DRIFT_MB, out.stdout
