"""The Ray runner: shards over Ray actors on a local Ray started here, merged, equal to a single-process run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attnflow_core.models import load_pair
from attnflow_core.overview import OverviewSettings, compute_overview
from overview_fields import assert_merged_equals_whole
from tiny import make_tiny_bert_dir, tiny_examples

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")

EXAMPLES = tiny_examples(13)


def test_ray_runner_equals_a_single_process_run(tmp_path: Path) -> None:
    from attnflow_core.distributed import package_runtime_env, run_overview_ray

    base = str(make_tiny_bert_dir(tmp_path / "base", with_head=False, seed=0))
    tuned = str(make_tiny_bert_dir(tmp_path / "tuned", with_head=True, seed=1))
    settings = OverviewSettings(n=11, batch_size=4, importance=True, agreement=True)
    single = compute_overview(load_pair(base, tuned), EXAMPLES, "qa", settings, "demo", "demo")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=package_runtime_env())
    try:
        seen: list[float] = []
        ov = run_overview_ray(
            base, tuned, EXAMPLES, "qa", settings, "demo", "demo", progress=lambda f, _m: seen.append(f)
        )
    finally:
        ray.shutdown()
    assert seen[-1] == 1.0 and len(seen) == 4  # 2 workers x 2 shards each
    assert ov.examples["uid"].tolist() == single.examples["uid"].tolist() == [f"e{i}" for i in range(11)]
    for name in ("js_mean", "js_std", "cross", "sinks", "behaviour"):
        np.testing.assert_allclose(getattr(ov, name), getattr(single, name), atol=1e-6, rtol=0, err_msg=name)
    np.testing.assert_allclose(ov.examples["shift"], single.examples["shift"], atol=1e-6)
    assert ov.settings == single.settings and ov.shard is None and ov.sums is not None and ov.sums.n == 11
    # every field, importance and agreement included (issue 20: the merge kept the first shard's importance)
    assert_merged_equals_whole(ov, single, [], times=False)
