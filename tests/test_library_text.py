"""Library messages reach users in this project's words: never their advice to lower a guard, nor their links."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from attnflow_core.models import ModelLoadError, embedded_adapter_dir, load_model
from tiny import make_tiny_bert_dir

ADVICE = ("weights_only", "trust_remote_code", "hf.co", "http", "pip install")


class _Evil:
    """Pickles as a call of os.getcwd: torch's weights_only loader refuses it (and it would do no harm)."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (os.getcwd, ())


def _refusal(ref: Path) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_model(str(ref))
    text = str(info.value)
    assert not [a for a in ADVICE if a in text], text
    return text


def test_library_text_keeps_the_facts_and_drops_the_advice() -> None:
    from attnflow_core.errors import library_text

    err = ValueError(
        "The repository /tmp/x contains custom code which must be executed to correctly load the model. You can "
        "inspect the repository content at https://hf.co//tmp/x.\nPlease pass the argument `trust_remote_code=True` "
        "to allow custom code to be run."
    )
    assert library_text(err) == (
        "ValueError: The repository /tmp/x contains custom code which must be executed to correctly load the model."
    )
    assert library_text(
        OSError("Re-running `torch.load` with `weights_only` set to `False` will succeed")
    ) == ("OSError")
    assert len(library_text(RuntimeError("x" * 1_000))) < 320


def test_pickled_adapter_weights_are_refused_in_our_words(tmp_path: Path) -> None:
    """Issue 20: an adapter folder with a pickled adapter_model.bin repeated torch's advice to pass
    weights_only=False."""
    torch = pytest.importorskip("torch")
    adapter = tmp_path / "adapter"
    shutil.copytree(embedded_adapter_dir("sentiment"), adapter)
    (adapter / "adapter_model.safetensors").unlink()
    torch.save({"x": _Evil()}, adapter / "adapter_model.bin")
    assert "pickled weights are not loaded" in _refusal(adapter)
    checkpoint = make_tiny_bert_dir(tmp_path / "ckpt", with_head=True)
    (checkpoint / "model.safetensors").unlink()
    with (checkpoint / "pytorch_model.bin").open("wb") as f:
        pickle.dump({"x": _Evil()}, f, protocol=2)
    assert "pickled weights are not loaded" in _refusal(checkpoint)


def test_custom_code_and_unknown_model_types_are_refused_in_our_words(tmp_path: Path) -> None:
    """Issue 20: a folder whose config.json asks for custom code made transformers advise trust_remote_code=True
    with a broken https://hf.co//tmp/... link."""
    remote = make_tiny_bert_dir(tmp_path / "remote", with_head=True)
    cfg = json.loads((remote / "config.json").read_text())
    cfg.update(model_type="evil_bert", auto_map={"AutoConfig": "cfg.EvilConfig"})
    (remote / "config.json").write_text(json.dumps(cfg))
    assert "this app never runs code that comes with a model" in _refusal(remote)
    del cfg["auto_map"]
    (remote / "config.json").write_text(json.dumps(cfg))
    assert "model type `evil_bert`" in _refusal(remote)
