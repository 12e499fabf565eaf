"""Where the forward passes run: the CPU or a CUDA GPU, chosen once by name ("auto", "cpu", "cuda").

The CLI takes ``--device auto|cpu|cuda`` (default ``DEFAULT``, the CPU, so results stay bit-identical to before);
the app reads the ``ATTNFLOW_DEVICE`` environment variable (``ENV_VAR``) and shows the choice on the About page.

On CUDA the overview runs its forward passes under ``torch.autocast`` in ``autocast_dtype()`` (bfloat16 where the
GPU has it: fp32's exponent range, so no overflow in the attention scores) with ``GPU_BATCH_FACTOR`` times larger length-bucketed
batches. The attention probabilities themselves are returned in float32 (autocast runs softmax in float32), but
the scores before the softmax carry bfloat16's 8-bit mantissa, so statistics agree with the CPU's float32 run to
``GPU_TOLERANCE`` (absolute, on head-change-map JS values and shares in [0, 1]), not bit for bit. That bound is
stated from bfloat16's precision and not yet measured on a GPU in this project; ``tests/test_device.py`` checks it
wherever CUDA is available. CPU runs (and shards merged from CPU runs) stay float32 and agree to 1e-6.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from attnflow_core.errors import AttnflowError

DEVICES = ("auto", "cpu", "cuda")
DEFAULT = "cpu"
ENV_VAR = "ATTNFLOW_DEVICE"
GPU_BATCH_FACTOR = (
    8  # CUDA batches hold this many times the CPU batch size (bucketed by length, so little padding)
)
GPU_TOLERANCE = 2e-2  # stated CPU-vs-CUDA(bf16 autocast) agreement of overview statistics, absolute


class DeviceUnavailable(AttnflowError):
    """The requested device does not exist on this machine."""


def resolve_device(name: str | None = None) -> Any:
    """``"auto" | "cpu" | "cuda"`` (None: ``DEFAULT``) -> ``torch.device``; auto = CUDA when available.

    "cuda" (or "cuda:N") without a usable CUDA device raises ``DeviceUnavailable`` naming the fix.
    """
    import torch

    choice = (name or DEFAULT).strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            raise DeviceUnavailable(
                f"device {choice!r} asked for, but torch ({torch.__version__}, {build}) sees no CUDA GPU here; "
                "use --device cpu (or auto), or set ATTNFLOW_DEVICE=cpu, or install a CUDA build of torch on a "
                "machine with a GPU"
            )
        dev = torch.device(choice)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"device {choice!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist; "
                "use --device cuda (the first one) or a smaller index"
            )
        return dev
    raise DeviceUnavailable(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")


def device_from_env() -> str:
    """The app's device choice: ``ATTNFLOW_DEVICE`` (auto, cpu or cuda), default ``DEFAULT``; validated."""
    value = os.environ.get(ENV_VAR, "").strip().lower() or DEFAULT
    if value not in DEVICES and not value.startswith("cuda:"):
        raise DeviceUnavailable(f"{ENV_VAR}={value!r} is not a device; set it to one of {', '.join(DEVICES)}")
    return value


def model_device(model: Any) -> Any:
    """The ``torch.device`` a transformers model's parameters live on (the CPU for a stand-in without any)."""
    import torch

    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def forward_context(device: Any) -> contextlib.AbstractContextManager[Any]:
    """Inference mode, plus ``autocast_dtype()`` autocast on CUDA (a plain float32 run on the CPU)."""
    import torch

    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if torch.device(device).type == "cuda":
        stack.enter_context(torch.autocast("cuda", dtype=autocast_dtype()))
    return stack


def autocast_dtype() -> Any:
    """bfloat16 where the GPU supports it (Ampere and later), else float16."""
    import torch

    return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16


def batch_size_for(device: Any, batch_size: int) -> int:
    """The batch size to use on ``device``: ``batch_size`` on the CPU, ``GPU_BATCH_FACTOR`` times it on CUDA."""
    import torch

    return batch_size * GPU_BATCH_FACTOR if torch.device(device).type == "cuda" else batch_size


def describe_device() -> str:
    """One Markdown paragraph for the About page: the app's device choice, where it resolves, how to change it."""
    import torch

    try:
        choice = device_from_env()
        where = str(resolve_device(choice))
    except DeviceUnavailable as err:
        return f"**The device setting is wrong:** {err}"
    gpu = (
        f"a CUDA GPU is available ({torch.cuda.get_device_name(0)})"
        if torch.cuda.is_available()
        else "no CUDA GPU is available to this torch build"
    )
    return (
        f"The models run on **{where}** (`{ENV_VAR}={choice}`; {gpu}). Set `{ENV_VAR}` to `auto`, `cpu` or `cuda` "
        f"before `streamlit run app.py` to change it; the command line takes `--device auto|cpu|cuda`. On a GPU "
        f"the dataset overview runs its forward passes in {'bfloat16' if where.startswith('cuda') else 'bf16/fp16'} "
        f"autocast with {GPU_BATCH_FACTOR}× larger batches; its statistics then agree with the CPU's to about "
        f"{GPU_TOLERANCE:g} (absolute)."
    )
