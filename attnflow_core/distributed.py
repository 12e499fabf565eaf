"""The dataset overview on a Ray cluster: shards mapped over Ray actors, merged exactly (``attnflow_core.shards``).

``overview --ray [ADDRESS]`` (no address: a local Ray started for the run and stopped after it; ``auto`` or
``ray://host:10001``: an existing cluster). Each worker is a Ray actor that loads the model pair once and then
computes whole shards (``compute_overview`` on a contiguous slice of the examples); the driver merges the shards'
running sums in shard order, so the result is the file a single run writes (same examples in the same order, head
change map equal to floating-point rounding). The package itself travels to the workers as a Ray ``py_modules``
runtime environment; the workers need this project's requirements (``requirements.txt``, which includes the
embedded base model's wheel) and ``requirements-ray.txt`` installed, as on the driver.

Ray is an optional extra (``pip install -r requirements-ray.txt``); without it, ``--ray`` says so and how to
install it. The same run without Ray is a Slurm array of ``overview --shard i/k`` jobs followed by
``merge-overviews`` (README).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from attnflow_core.data.errors import DataError
from attnflow_core.device import DeviceUnavailable, resolve_device
from attnflow_core.errors import AttnflowError
from attnflow_core.overview import Overview, OverviewSettings, compute_overview
from attnflow_core.settings import SettingsError
from attnflow_core.shards import merge_overviews, shard_range

SHARDS_PER_WORKER = 2  # a few shards per worker so a slow worker does not hold up the end


class RayUnavailable(AttnflowError):
    """Ray is not installed (it is an optional extra), or not the part of it an address needs."""


class RayAddressError(AttnflowError):
    """``--ray ADDRESS`` is not an address, or no Ray cluster answers there; the message names the fix."""


#: What ``--ray`` takes, named in every address message.
RAY_ADDRESS_FORMS = (
    "no value (a local Ray started for the run), auto (the running cluster this machine belongs to), "
    "ray://HOST:PORT (a Ray client address, usually port 10001) or HOST:PORT (the head node's address)"
)
_HOST_PORT = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})"
)
PROBE_SECONDS = 5.0  # how long a HOST:PORT may take to accept a connection before it counts as not answering


def check_ray_address(address: str | None) -> str | None:
    """``--ray``'s value -> None for a local Ray, else the address to pass to ``ray.init``, checked first: its form
    (``RAY_ADDRESS_FORMS``; ``RayAddressError`` otherwise), the client extra for ``ray://`` (``RayUnavailable``
    naming ``pip install "ray[client]"``) and that something accepts a connection at HOST:PORT within
    ``PROBE_SECONDS`` (a dead address would otherwise make Ray wait a minute and exit)."""
    text = (address or "").strip()
    if text in ("", "local"):
        return None
    if text == "auto":
        return text
    client = text.startswith("ray://")
    m = _HOST_PORT.fullmatch(text[len("ray://") :] if client else text)
    if m is None or not 0 < int(m.group("port")) < 65536:
        raise RayAddressError(f"--ray takes {RAY_ADDRESS_FORMS}; got {address!r}")
    if client and importlib.util.find_spec("grpc") is None:
        raise RayUnavailable(
            f'--ray {text} connects as a Ray client, which needs Ray\'s client extra: pip install "ray[client]" '
            "(or, on a node of the cluster, use --ray auto)"
        )
    host, port = m.group("host").strip("[]"), int(m.group("port"))
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
    except OSError as err:
        raise RayAddressError(
            f"no Ray cluster answers at {host}:{port} ({err.strerror or err.__class__.__name__}): start it "
            "(`ray start --head` on the head node) or correct the address; --ray with no value starts a local "
            "Ray for this run"
        ) from None
    return text


def _init_ray(ray: Any, address: str | None) -> None:
    """``ray.init`` for this run (a local Ray when ``address`` is None), its connection failures as user errors."""
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "runtime_env": package_runtime_env(),
    }
    if address is not None:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, TimeoutError, ValueError) as err:
        what = (
            "--ray auto found no running Ray cluster on this machine"
            if address == "auto"
            else f"could not start or reach Ray at {address or 'this machine'}"
        )
        raise RayAddressError(
            f"{what} ({err.__class__.__name__}); start the cluster (`ray start --head`), give its address, or use "
            "--ray with no value to start a local Ray for this run"
        ) from err


def _ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise RayUnavailable(
            "overview --ray needs Ray, an optional extra: pip install -r requirements-ray.txt (or run the shards "
            "yourself with --shard i/k and merge them with `python -m attnflow_core merge-overviews`)"
        ) from err
    return ray


def package_runtime_env() -> dict[str, Any]:
    """The Ray runtime environment that ships this package to the workers; pass it to your own ``ray.init``."""
    return {"py_modules": [str(Path(__file__).resolve().parent)]}


class _ShardWorker:
    """One Ray actor: loads the model pair once (``factory()``), then computes shards on request."""

    def __init__(self, factory: Callable[[], Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.pair = factory()

    def run(
        self,
        examples: list[Any],
        shard: tuple[int, int],
        task: str,
        settings: OverviewSettings,
        source: str,
        split: str,
    ) -> Overview:
        ov = compute_overview(self.pair, examples, task, settings, source, split)
        return replace(ov, shard=shard)


def run_overview_ray(
    base_ref: str,
    tuned_ref: str,
    examples: Sequence[Any],
    task: str,
    settings: OverviewSettings,
    source: str = "",
    split: str = "",
    *,
    tuned_labels: tuple[str, ...] | None = None,
    address: str | None = None,
    workers: int | None = None,
    shards: int | None = None,
    threads_per_worker: int = 1,
    device: str = "cpu",
    progress: Callable[[float, str], None] | None = None,
) -> Overview:
    """The overview of the first ``settings.n`` of ``examples`` computed over Ray actors and merged.

    ``address``: None (or "local") starts a local Ray for this call and shuts it down after; otherwise it is passed
    to ``ray.init`` (e.g. "auto", "ray://head:10001"). If Ray is already initialised in this process, it is used as
    is. ``workers``: actors to start (default: the cluster's CPUs // ``threads_per_worker``, or its GPUs with
    ``device="cuda"``); ``shards``: slices of the examples (default ``SHARDS_PER_WORKER`` per worker, at most one
    per example). Returns the merged ``Overview`` (no shard).
    """
    ray = _ray()
    t0 = time.perf_counter()
    settings.validate()
    selected = list(examples)[: settings.n]
    if not selected:
        raise DataError("no examples to summarise: pick a source and split with at least one example")
    wants_cuda = device.strip().lower().startswith("cuda")
    started = False
    if not ray.is_initialized():
        address = check_ray_address(address)
        if address is None:
            resolve_device(device)  # a local Ray runs on this machine: no GPU here is named before Ray starts
        _init_ray(ray, address)
        started = True
    try:
        resources = ray.cluster_resources()
        if wants_cuda and resources.get("GPU", 0) < 1:
            raise DeviceUnavailable(
                f"--device {device} asked for, but the Ray cluster has no GPU (its resources: "
                f"{int(resources.get('CPU', 0))} CPUs); use --device cpu (or auto), or a cluster with GPU nodes"
            )
        gpu = (wants_cuda or device == "auto") and resources.get("GPU", 0) >= 1
        if workers is None:
            workers = (
                int(resources.get("GPU", 1))
                if gpu
                else max(1, int(resources.get("CPU", 1)) // threads_per_worker)
            )
        if workers < 1:
            raise SettingsError(f"workers must be at least 1; got {workers}")
        k = min(len(selected), shards or workers * SHARDS_PER_WORKER)
        factory = functools.partial(_load_pair, base_ref, tuned_ref, tuned_labels, "cuda" if gpu else "cpu")
        actor_cls = ray.remote(num_cpus=threads_per_worker, num_gpus=1 if gpu else 0)(_ShardWorker)
        actors = [actor_cls.remote(factory, threads_per_worker) for _ in range(min(workers, k))]
        pool = ray.util.ActorPool(actors)
        jobs = [(i, [selected[j] for j in shard_range(len(selected), i, k)]) for i in range(1, k + 1)]
        parts: list[Overview] = []
        for done, part in enumerate(
            pool.map_unordered(
                lambda actor, job: actor.run.remote(job[1], (job[0], k), task, settings, source, split), jobs
            ),
            start=1,
        ):
            parts.append(part)
            if progress is not None:
                progress(done / k, f"{done}/{k} shards on {len(actors)} Ray workers")
        # seconds: the run's wall time (the parts' own seconds add up the workers' time)
        return replace(merge_overviews(parts), seconds=time.perf_counter() - t0)
    finally:
        if started:
            ray.shutdown()


def _load_pair(base_ref: str, tuned_ref: str, tuned_labels: tuple[str, ...] | None, device: str) -> Any:
    from attnflow_core.models import load_pair

    return load_pair(base_ref, tuned_ref, tuned_labels, device=device)
