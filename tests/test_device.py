"""Device choice: names, the missing-GPU message, env var, and that load/extract/overview run where asked."""

from __future__ import annotations

import argparse

import pytest
import torch

from attnflow_core import device as dev
from attnflow_core.cli.common import add_device_argument
from attnflow_core.errors import AttnflowError
from tiny import make_tiny_bert_dir


def test_cpu_and_auto() -> None:
    assert dev.resolve_device("cpu") == torch.device("cpu")
    assert dev.resolve_device(None) == torch.device(dev.DEFAULT)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dev.resolve_device("auto").type == expected
    assert dev.resolve_device(" AUTO ").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gives")
def test_cuda_without_a_gpu_names_the_fix() -> None:
    with pytest.raises(AttnflowError, match="--device cpu"):
        dev.resolve_device("cuda")
    with pytest.raises(dev.DeviceUnavailable, match="ATTNFLOW_DEVICE=cpu"):
        dev.resolve_device("cuda:0")


def test_unknown_device() -> None:
    with pytest.raises(dev.DeviceUnavailable, match="auto, cpu, cuda"):
        dev.resolve_device("tpu")


def test_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dev.ENV_VAR, raising=False)
    assert dev.device_from_env() == dev.DEFAULT
    monkeypatch.setenv(dev.ENV_VAR, "Auto")
    assert dev.device_from_env() == "auto"
    monkeypatch.setenv(dev.ENV_VAR, "gpu")
    with pytest.raises(dev.DeviceUnavailable, match=dev.ENV_VAR):
        dev.device_from_env()


def test_batch_size_and_context_on_cpu() -> None:
    cpu = torch.device("cpu")
    assert dev.batch_size_for(cpu, 16) == 16
    assert dev.batch_size_for(torch.device("cuda"), 16) == 16 * dev.GPU_BATCH_FACTOR
    with dev.forward_context(cpu):
        assert torch.is_inference_mode_enabled()
        assert not torch.is_autocast_enabled("cuda")
    assert not torch.is_inference_mode_enabled()


def test_model_device_of_a_module_and_of_a_stand_in() -> None:
    assert dev.model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert dev.model_device(object()) == torch.device("cpu")


def test_cli_flag() -> None:
    p = argparse.ArgumentParser()
    add_device_argument(p)
    assert p.parse_args([]).device == "cpu"
    assert p.parse_args(["--device", "auto"]).device == "auto"
    with pytest.raises(SystemExit):
        p.parse_args(["--device", "gpu"])


def test_load_model_puts_the_weights_on_the_device(tmp_path) -> None:
    from attnflow_core.models import load_model

    path = make_tiny_bert_dir(tmp_path / "m", with_head=True, seed=0)
    loaded = load_model(str(path), device="auto")
    assert dev.model_device(loaded.model).type == dev.resolve_device("auto").type
    if not torch.cuda.is_available():
        with pytest.raises(dev.DeviceUnavailable):
            load_model(str(path), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CPU-vs-GPU agreement)")
def test_overview_on_cuda_matches_the_cpu_within_the_stated_tolerance(tmp_path) -> None:
    from attnflow_core.data.sources import Example
    from attnflow_core.models import load_pair
    from attnflow_core.overview import OverviewSettings, compute_overview

    b = make_tiny_bert_dir(tmp_path / "b", with_head=False, seed=0)
    t = make_tiny_bert_dir(tmp_path / "t", with_head=True, seed=1)
    exs = [Example(f"e{i}", "what is the capital of france ?", "paris is the capital " * (i % 3 + 1), None)
           for i in range(12)]  # fmt: skip
    s = OverviewSettings(n=12, batch_size=4)
    cpu = compute_overview(load_pair(str(b), str(t), device="cpu"), exs, "qa", s)
    gpu = compute_overview(load_pair(str(b), str(t), device="cuda"), exs, "qa", s)
    for name in ("js_mean", "sinks", "behaviour"):
        diff = abs(getattr(cpu, name) - getattr(gpu, name)).max()
        assert diff <= dev.GPU_TOLERANCE, (name, diff)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gives")
def test_cli_device_cuda_without_a_gpu_is_a_message(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from attnflow_core.__main__ import main

    path = str(make_tiny_bert_dir(tmp_path / "m", with_head=True, seed=0))
    argv = ["compare", "--base", path, "--tuned", path, "--text", "good movie", "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: device 'cuda'") and "--device cpu" in err and "Traceback" not in err
