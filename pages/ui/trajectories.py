"""The Fine-tuning trajectory page's loaders: the trajectories shipped with the app and those this server computed
(kept, bounded, shared by every session), each computed in the server's one computation slot."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import streamlit as st

from attnflow_core.data.sources import frame_examples
from attnflow_core.data.tasks import get_task
from attnflow_core.models import LoadedModel, list_checkpoints
from attnflow_core.trajectory import Trajectory, TrajectoryRequest, compute_trajectory, shipped_trajectory
from pages.ui.loaders import get_examples, get_model, get_pair


@st.cache_resource(show_spinner=False, max_entries=3)
def get_shipped_trajectory(task: str) -> Trajectory | None:
    """The trajectory shipped for the task's embedded pair on its demo set (``trajectory.shipped_trajectory``)."""
    return shipped_trajectory(task)


class TrajectoryStore:
    """The trajectories this server computed, by request (``TrajectoryRequest``: the pair, the data, the
    settings), the ``size`` most recently used kept; shared by every session (``trajectories``)."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[TrajectoryRequest, Trajectory] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, request: TrajectoryRequest) -> Trajectory | None:
        with self._lock:
            found = self._items.get(request)
            if found is not None:
                self._items.move_to_end(request)
            return found

    def put(self, request: TrajectoryRequest, t: Trajectory) -> None:
        with self._lock:
            self._items[request] = t
            self._items.move_to_end(request)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def trajectories() -> TrajectoryStore:
    """The server's computed trajectories (a trajectory is small: K × L × H numbers twice, and K of the rest)."""
    return TrajectoryStore(16)


def trajectory_examples(request: TrajectoryRequest) -> list[Any]:
    """The request's examples: the first ``settings.n`` of its source and split (as the overview takes them)."""
    task = get_task(request.task)
    return frame_examples(get_examples(task.name, request.source, request.split), task, request.settings.n)


def get_trajectory(
    request: TrajectoryRequest,
    progress: Callable[[float, str], None] | None = None,
    wait: Callable[[], Any] | None = None,
) -> Trajectory:
    """The request's trajectory: the server's, or computed now (``trajectory.compute_trajectory``, the function
    ``overview --trajectory`` calls) in this server's one computation slot, on the pair's cached models and each
    checkpoint loaded once (``get_model``), then kept (``trajectories``). ``progress(fraction, message)`` names
    the checkpoint being run; ``wait`` is called while another computation holds the slot."""
    from attnflow_core.overview_store import overview_turn

    found = trajectories().get(request)
    if found is not None:
        return found
    pair = get_pair(request.base, request.tuned, request.labels)

    def load(ref: str) -> LoadedModel:
        return pair.tuned if ref == request.tuned else get_model(ref, request.labels)

    examples = trajectory_examples(request)
    with overview_turn(wait):
        t = compute_trajectory(
            pair.base,
            list_checkpoints(request.tuned),
            examples,
            request.task,
            request.settings,
            load,
            source=request.source,
            split=request.split,
            progress=progress,
        )
    trajectories().put(request, t)
    return t
