"""Saliency memory: the process's peak and held RSS over repeated saliency runs on long texts (issue 20).

    python benchmarks/bench_saliency_memory.py [--max-length 128] [--runs 4] [--chars 2000] [--root APP_FOLDER]

Loads the embedded sentiment pair, then runs all three saliency methods (``saliency.result_saliency``: IG,
gradient × input, occlusion) ``--runs`` times, each on a different ``--chars``-character text truncated to
``--max-length`` tokens (the app: 128; the CLI: up to 512), each in a new thread (as Streamlit runs a session's
script) while the results are kept (as ``st.cache_data`` keeps them). After each run it prints the run's peak RSS
(VmHWM, reset before the run) and the RSS held afterwards, in MB. ``--root`` runs an unpacked older commit's code
(to measure "before").
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORDS = [
    "the",
    "film",
    "was",
    "a",
    "wonderful",
    "and",
    "moving",
    "story",
    "about",
    "a",
    "man",
    "who",
    "loved",
    "music",
    "but",
    "hated",
    "the",
    "stage",
]


def rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def long_text(i: int, chars: int) -> str:
    words = [WORDS[(i + k) % len(WORDS)] for k in range(chars // 3)]
    return " ".join(words)[:chars]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--root", default=str(ROOT))
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    from attnflow_core.extract import extract
    from attnflow_core.models import load_pair
    from attnflow_core.saliency import result_saliency

    pair = load_pair("embedded:minilm", "embedded:sentiment")
    print(f"loaded: rss {rss_mb('VmRSS'):.0f} MB", flush=True)
    kept: list[Any] = []
    for i in range(args.runs):
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
        box: dict[str, Any] = {}

        def work(box: dict[str, Any], text: str) -> None:
            box["result"] = extract(pair, text, None, max_length=args.max_length)
            box["saliency"] = result_saliency(pair.tuned, box["result"])  # every method

        start = time.perf_counter()
        thread = threading.Thread(target=work, args=(box, long_text(i, args.chars)))
        thread.start()
        thread.join()
        kept.append(box["saliency"])
        n = len(box["result"].encoding.input_ids)
        box.clear()
        gc.collect()
        print(
            f"run {i + 1}: {n} tokens, {time.perf_counter() - start:.1f} s, peak {rss_mb('VmHWM'):.0f} MB, "
            f"held {rss_mb('VmRSS'):.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
