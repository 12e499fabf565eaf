"""``overview --out``: a folder in the way and a full disk end in one clear line, never a truncated file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from attnflow_core.cli import main
from attnflow_core.paths import WriteError, atomic_write


def test_out_that_is_a_folder_is_refused_before_computing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.json").mkdir()
    assert main(["overview", "--task", "qa", "--n", "2", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is a folder; name a file inside it" in err and err.count("\n") == 1


def test_out_with_a_wrong_suffix_is_refused_before_computing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["overview", "--task", "qa", "--n", "2", "--out", str(tmp_path / "x.csv")]) == 2
    assert ".json or .parquet" in capsys.readouterr().err


def test_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "ov.json"
    out.write_text("the previous, complete overview")

    def write(tmp: Path) -> None:
        tmp.write_text("half of it")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError, match="No space left on device; free some space or choose another"):
        atomic_write(out, write)
    assert out.read_text() == "the previous, complete overview"
    assert [p.name for p in tmp_path.iterdir()] == ["ov.json"]


def test_atomic_write_replaces_whole(tmp_path: Path) -> None:
    out = tmp_path / "ov.json"
    atomic_write(out, lambda tmp: tmp.write_text("new"))
    assert out.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["ov.json"]
    with pytest.raises(WriteError, match="no such folder"):
        atomic_write(tmp_path / "missing" / "ov.json", lambda tmp: tmp.write_text("x"))


def _overview_ray(tmp_path: Path, *extra: str) -> list[str]:
    return ["overview", "--task", "qa", "--n", "2", "--out", str(tmp_path / "ov.json"), *extra]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "unexpected problem" not in err
    return err


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("not an address", "--ray takes no value (a local Ray"),
        ("ray://", "--ray takes no value"),
        ("http://head:10001", "--ray takes no value"),
        ("127.0.0.1:1", "no Ray cluster answers at 127.0.0.1:1"),
    ],
)
def test_ray_address_mistakes_are_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str, message: str
) -> None:
    """Issue 20: these were reported as bugs (exit 1); they are the user's to fix: one line, exit 2, no Ray started."""
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    assert main(_overview_ray(tmp_path, "--ray", address)) == 2
    assert message in _one_error_line(capsys)
    assert not (tmp_path / "ov.json").exists()


def test_a_ray_client_address_without_the_client_extra_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "grpc" else real(name, *a)
    )
    assert main(_overview_ray(tmp_path, "--ray", "ray://127.0.0.1:1")) == 2
    assert 'pip install "ray[client]"' in _one_error_line(capsys)


def test_ray_auto_without_a_cluster_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--ray auto` on a machine without a running cluster: Ray's own ConnectionError becomes one line naming the
    fix. (Ray's answer is stood in for: on a shared machine another run's Ray could be found.)"""
    from attnflow_core import distributed

    class NoCluster:
        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**kwargs: object) -> None:
            assert kwargs["address"] == "auto"
            raise ConnectionError(
                "Could not find any running Ray instance. Please specify the one to connect to"
            )

    monkeypatch.setattr(distributed, "_ray", lambda: NoCluster)
    assert main(_overview_ray(tmp_path, "--ray", "auto")) == 2
    err = _one_error_line(capsys)
    assert "--ray auto found no running Ray cluster on this machine" in err and "ray start --head" in err


def test_ray_with_cuda_on_a_cpu_only_machine_is_refused_like_one_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 20: `--ray --device cuda` silently ran on the CPU (exit 0). Refused before Ray starts."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, so --device cuda is valid here")
    assert main(_overview_ray(tmp_path, "--device", "cuda")) == 2
    single = _one_error_line(capsys)
    assert main(_overview_ray(tmp_path, "--ray", "--device", "cuda")) == 2
    assert _one_error_line(capsys) == single  # the single-process path's own message
    assert "sees no CUDA GPU here" in single


def test_ray_with_cuda_on_a_cluster_without_gpus_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from attnflow_core import distributed

    class CpuCluster:
        stopped = False

        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**kwargs: object) -> None:
            pass

        @staticmethod
        def cluster_resources() -> dict[str, float]:
            return {"CPU": 8.0}

        @classmethod
        def shutdown(cls) -> None:
            cls.stopped = True

    monkeypatch.setattr(distributed, "_ray", lambda: CpuCluster)
    assert main(_overview_ray(tmp_path, "--ray", "auto", "--device", "cuda")) == 2
    assert "the Ray cluster has no GPU" in _one_error_line(capsys)
    assert CpuCluster.stopped
