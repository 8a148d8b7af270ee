"""The built container image (`make image`, deploy/build-image.sh): its configuration, its
contents, and its entrypoint serving real gRPC.

The image is run the way a container runtime would run it, without one: the image's root
filesystem (a buildah working container, mounted) is bind-mounted READ-ONLY in a private mount
namespace, with a tmpfs on /tmp and /dev/shm, a minimal /dev, /proc and /sys, and a host
directory owned by uid 10001 on the data volume /var/lib/recalld; then the image's Entrypoint +
Cmd run in it under chroot as the image's user (10001), with exactly the image's environment
(RECALLD_LISTEN moved to a free loopback port). The process chain unshare -> sh -> chroot ->
recalld is one exec chain, so the PID the test holds is the server's: it is stopped by that PID
(SIGTERM, then SIGKILL). Needs root (mount namespace) and buildah; if the image is not built the
tests fail and say to run `make image`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recalld.client import Recalld
from tests.harness import alive, descendants, describe, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
IMAGE = os.environ.get("RECALLD_IMAGE", f"localhost/recalld:{VERSION}")
BUILDAH = ["buildah", "--storage-driver", "vfs"]
UID = 10001
DATA = "/var/lib/recalld"

# Runs as root in a private mount namespace ($1 mount point, $2 image root, $3 data dir, then
# the command): the mounts vanish with the namespace when the server exits.
CONTAINER_SH = r"""
set -e
R=$1 IMG=$2 DATA=$3; shift 3
mount --bind "$IMG" "$R"
mount -o remount,bind,ro "$R"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
mount --bind "$DATA" "$R/var/lib/recalld"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev"
for n in null zero full random urandom; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mkdir "$R/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
exec chroot --userspec=10001:10001 "$R" "$@"
"""


def _buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BUILDAH, *args], capture_output=True, text=True, check=check, timeout=300)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The image's OCI config; fails (never skips) when there is no image to test."""
    if shutil.which("buildah") is None:
        pytest.fail(f"buildah is not installed, so there is no image {IMAGE}: run `make image`")
    inspected = _buildah("inspect", "--type", "image", IMAGE, check=False)
    if inspected.returncode != 0:
        pytest.fail(f"image {IMAGE} is not built: run `make image` ({inspected.stderr.strip()})")
    cfg: dict[str, Any] = json.loads(inspected.stdout)["OCIv1"]["config"]
    return cfg


@pytest.fixture(scope="module")
def rootfs(config: dict[str, Any]) -> Iterator[Path]:
    """The image's root filesystem: a working container, mounted; removed afterwards."""
    ctr = _buildah("from", "--quiet", "--pull=never", IMAGE).stdout.strip()
    try:
        yield Path(_buildah("mount", ctr).stdout.strip())
    finally:
        _buildah("umount", ctr, check=False)
        _buildah("rm", ctr, check=False)


def _env(config: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config.get("Env") or [])


def test_image_config(config: dict[str, Any]) -> None:
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["recalld"] and config["Cmd"] == ["serve"]
    env = _env(config)
    assert env["RECALLD_LISTEN"] == "0.0.0.0:50051" and env["RECALLD_DATA_DIR"] == DATA
    assert env["HOME"] == "/tmp" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].split(":")[0] == "/opt/recalld/bin"
    assert set(config["ExposedPorts"]) == {"50051/tcp", "9464/tcp"}
    assert set(config["Volumes"]) == {DATA}
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "recalld"
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.base.name"]  # the base it was built on


def test_image_contents(rootfs: Path) -> None:
    """No compilers, no pip, no wheelhouse or caches; an unprivileged user owning only its
    volume; the venv compiled ahead of time and without the packages' test suites."""
    bins = [rootfs / d for d in ("usr/bin", "usr/local/bin", "usr/sbin", "opt/recalld/bin")]
    compilers = [
        p.relative_to(rootfs).as_posix()
        for d in bins
        for p in d.iterdir()
        if p.name in {"cc", "c++", "gcc", "g++", "cpp", "clang", "ld", "as", "make"} or "-gcc" in p.name
    ]
    assert compilers == []
    venv = rootfs / "opt/recalld"
    assert (venv / "bin/recalld").is_file()
    assert not list((venv / "bin").glob("pip*"))
    assert not (rootfs / "wheels").exists() and not (rootfs / "root/.cache").exists()
    site = venv / "lib/python3.11/site-packages"
    assert not (site / "spacy/tests").exists() and not (site / "pip").exists()
    assert list((site / "recalld/server/__pycache__").glob("cli.cpython-311*.pyc"))
    assert "recalld:x:10001:10001:" in (rootfs / "etc/passwd").read_text()
    data = (rootfs / DATA.lstrip("/")).stat()
    assert (data.st_uid, data.st_gid) == (UID, UID)
    assert venv.stat().st_uid == 0 and not venv.stat().st_mode & 0o022  # the user cannot change the code


class Container:
    """The image's entrypoint on its read-only root filesystem (see the module docstring)."""

    def __init__(self, config: dict[str, Any], rootfs: Path, work: Path, data: Path) -> None:
        self.config, self.rootfs, self.work, self.data = config, rootfs, work, data
        self.log_path = work / "container.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.ready_s = 0.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> Container:
        if os.geteuid() != 0:
            pytest.fail("running the image needs root (a private mount namespace and chroot)")
        mnt = self.work / "root"
        mnt.mkdir(exist_ok=True)
        self.port = free_port()
        env = {**_env(self.config), "RECALLD_LISTEN": self.address}
        argv = [*self.config["Entrypoint"], *self.config["Cmd"]]
        unshare = shutil.which("unshare") or "unshare"
        sh = [unshare, "--mount", "/bin/sh", "-c", CONTAINER_SH, "sh", str(mnt), str(self.rootfs), str(self.data)]
        t0 = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*sh, *argv],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(f"the container exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    pytest.fail(f"not SERVING after {timeout}s:\n{self.log()[-4000:]}")
                time.sleep(0.1)
        self.ready_s = time.perf_counter() - t0
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def descendants(self) -> list[int]:
        """PIDs of the server's child processes (Milvus Lite's server, the model worker, ...)."""
        assert self.proc is not None
        return descendants(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM by PID, then SIGKILL after ``timeout``: returns the exit status of SIGTERM's stop."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"no exit {timeout}s after SIGTERM; killed:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            children = self.descendants()
            self.proc.kill()
            self.proc.wait(10)
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    data = tmp_path / "volume"
    data.mkdir()
    os.chown(data, UID, UID)
    return data


def test_entrypoint_serves_add_and_search_read_only(
    config: dict[str, Any], rootfs: Path, volume: Path, tmp_path: Path, record_property: Any
) -> None:
    """Start -> SERVING -> Add -> Search finds it -> SIGTERM exits 0 with its children; a second
    start on the same volume still finds the fact."""
    user = f"image-{uuid.uuid4().hex[:8]}"
    fact = "My cat Luna caught a cold last week."
    timings = []
    for run in ("first", "restart"):
        container = Container(config, rootfs, tmp_path, volume)
        try:
            container.start()
            timings.append(container.ready_s)
            with Recalld(container.address) as memory:
                if run == "first":
                    added = memory.add(fact, user_id=user)
                    assert [m.text for m in added.added] == [fact]
                hits = memory.search("how is my pet's health?", user_id=user)
                assert hits and hits[0].memory.text == fact, run
            children = container.descendants()
            assert container.stop() == 0, container.log()[-4000:]
            left = [pid for pid in children if alive(pid)]
            assert not left, f"children outlived the server: {describe(left)}"
        finally:
            container.kill()
    log = container.log()
    for problem in ("Read-only file system", "Permission denied", "Traceback"):
        assert problem not in log, log[-4000:]
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in volume.rglob("*")}
    assert owners == {(UID, UID)} and (volume / "graph.db").exists()
    record_property("start_to_serving_s", [round(t, 2) for t in timings])
    print(f"\nimage {IMAGE}: start to SERVING {timings[0]:.2f}s (first start), {timings[1]:.2f}s (restart)")
