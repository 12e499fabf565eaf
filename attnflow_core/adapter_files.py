"""The output folder of ``finetune``: writing the adapter, and never deleting what the project did not write.

A folder that holds only ``OUTPUT_FILES`` (with ``attnflow.json`` and ``adapter_config.json``) is an earlier output
and may be replaced whole; any other non-empty folder is refused unless the caller passes ``overwrite``, and then
only our files are written into it. Even then a README.md that is not our model card (``is_own_card``) is the
user's: such a folder is refused, since the model card would replace it. The ``checkpoints`` sub-folder
(``attnflow_core.checkpoints``) counts as ours only when it holds nothing but checkpoint folders.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attnflow_core.checkpoints import CHECKPOINTS_DIR, is_checkpoints_folder
from attnflow_core.model_card import model_card
from attnflow_core.paths import WriteError

#: The files ``finetune`` writes into its output folder; a folder holding only these is an earlier output.
OUTPUT_FILES = frozenset(
    {"adapter_config.json", "adapter_model.safetensors", "attnflow.json", "README.md", CHECKPOINTS_DIR}
)


def save_adapter(model: Any, out_dir: Path, dtype_name: str, base_dir: Path | None) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(out_dir), safe_serialization=True)
    weights = out_dir / "adapter_model.safetensors"
    if dtype_name == "float16":
        tensors = load_file(str(weights))
        save_file(
            {k: v.to(torch.float16).contiguous() for k, v in tensors.items()},
            str(weights),
            metadata={"format": "pt"},
        )
    cfg_path = out_dir / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    # Not this machine's path to the embedded base: models.load_model resolves this name to it.
    cfg["base_model_name_or_path"] = (
        "sentence-transformers/all-MiniLM-L6-v2" if base_dir is None else str(base_dir)
    )
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def save_checkpoint(tensors: dict[str, Any], folder: Path, adapter_config: Path) -> None:
    """Write one checkpoint (``attnflow_core.checkpoints``) into ``folder``: the adapter tensors (as taken from
    ``peft.get_peft_model_state_dict``, already in the storage dtype) and a copy of the run's ``adapter_config.json``,
    the same two files ``save_adapter`` writes for the final adapter."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(adapter_config, folder / "adapter_config.json")
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def is_earlier_output(folder: Path) -> bool:
    """Whether ``folder`` holds an earlier ``finetune`` output and nothing else (safe to replace)."""
    names = {p.name for p in Path(folder).iterdir()}
    ours = CHECKPOINTS_DIR not in names or is_checkpoints_folder(Path(folder) / CHECKPOINTS_DIR)
    return {"attnflow.json", "adapter_config.json"} <= names and names <= OUTPUT_FILES and ours


def is_own_card(folder: Path) -> bool:
    """Whether ``folder``'s README.md is the model card ``finetune`` made from the folder's ``attnflow.json`` (and
    so may be replaced); a README.md of the user's own is not."""
    try:
        meta = json.loads((Path(folder) / "attnflow.json").read_text())
        return isinstance(meta, dict) and (Path(folder) / "README.md").read_text() == model_card(meta)
    except (OSError, ValueError):
        return False


def check_out_dir(out_dir: Path, overwrite: bool = False) -> None:
    """Check, before training, that ``out_dir`` can take the adapter: it is new, empty or an earlier output (or
    ``overwrite`` is set and it holds no README.md of the user's own, which the model card would replace), and it
    (or the folder it will be made in) is writable; WriteError naming the fix."""
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists():
        if not out_dir.is_dir():
            raise WriteError(f"{out_dir} is a file, not a folder; choose a new folder for the adapter")
        if any(out_dir.iterdir()) and not is_earlier_output(out_dir):
            if not overwrite:
                raise WriteError(
                    f"{out_dir} is not empty and is not an earlier finetune output; choose a new or empty folder, "
                    f"or pass --overwrite to write the adapter files ({', '.join(sorted(OUTPUT_FILES))}) into it "
                    "(nothing else there is deleted)"
                )
            if (out_dir / "README.md").exists() and not is_own_card(out_dir):
                raise WriteError(
                    f"{out_dir} holds a README.md of your own, and finetune writes its model card as README.md: "
                    "move yours elsewhere or choose another folder (--overwrite replaces only the adapter files and "
                    "the model card; nothing else there is deleted or replaced)"
                )
    theirs = out_dir / CHECKPOINTS_DIR
    if theirs.exists() and not is_checkpoints_folder(theirs):
        raise WriteError(
            f"{theirs} exists and is not a checkpoints folder finetune wrote; move it away or choose another folder "
            "(the checkpoints are written there)"
        )
    existing = next(p for p in (out_dir, *out_dir.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WriteError(f"cannot write in {existing} (no permission); choose another output folder")


def move_into(tmp: Path, out_dir: Path) -> None:
    """Put the finished adapter in ``tmp`` at ``out_dir``: replace an earlier output (or a missing/empty folder)
    whole; into any other folder (``overwrite``) move only our files, deleting nothing else."""
    if not out_dir.exists() or not any(out_dir.iterdir()) or is_earlier_output(out_dir):
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
        return
    for f in tmp.iterdir():
        target = out_dir / f.name
        if (
            f.is_dir() and target.exists()
        ):  # an earlier run's checkpoints (check_out_dir refused anything else)
            shutil.rmtree(target)
        os.replace(f, target)
    tmp.rmdir()


def write_output(out_dir: Path, fill: Callable[[Path], None], overwrite: bool = False) -> int:
    """``fill(tmp)`` writes the output into a temporary sibling folder, which is then put at ``out_dir``
    (``move_into``), so a half-written adapter is never visible; returns its size in bytes. WriteError (nothing
    left behind) when the folder cannot be written, e.g. a full disk."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as err:
        raise WriteError(
            f"cannot write in {out_dir.parent}: {err.strerror or err}; choose another folder"
        ) from err
    try:
        os.chmod(tmp, 0o755)
        fill(tmp)
        size = dir_bytes(tmp)
        check_out_dir(out_dir, overwrite)  # again: the folder may have changed during training
        move_into(tmp, out_dir)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError(
            f"could not write the adapter to {out_dir}: {err.strerror or err}; free some space or choose another "
            "folder"
        ) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return size
