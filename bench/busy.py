"""A busy platform: many concurrent conversations, each turn a Search before the answer and an Add
after it, on LoCoMo-sized scopes, with every question distinct.

    python -m bench.busy [--backend embedded|falkordb+milvus] [--clients 32 8] [--copies 4]
                         [--baseline d0707de] [--seconds 90] [--search-only] [--out PATH]

Data: the LoCoMo dev conversations (../shared/data/locomo-dev.json), each ingested ``--copies``
times into its own scope (user ``<sample_id>-c<k>``; conv-41 gives ~1,300 memories per scope).
The first 85 % of each conversation's turns are the scope's memory (seeded once per backend and
schema, cached under bench/.work/ for the embedded stores); the remaining turns are the Adds of
the load, in conversation order, one turn per Add with its speaker, dia_id and session date.

Load: ``--clients`` concurrent callers on one asyncio loop (one thread of this process; its CPU
is reported), no think time, no retries. 80 % Search: the next question of categories 1-4 of the
scope's own conversation, each (scope, question) asked exactly once per run (no query-text
cache can help: questions repeat only across scopes, and recalld has no such cache); 20 % Add.
The run ends when the questions or ``--seconds`` run out.

Measured: searches/s and adds/s, Search and Add p50/p95/p99, errors and RESOURCE_EXHAUSTED
answers, server CPU per operation (utime + stime of every recalld process and its children from
/proc; FalkorDB's and the Milvus server's beside it), and this load generator's own CPU. With
``--baseline REV`` the same load also runs against that commit's server (a git worktree under
bench/.work/, on the same seeded data) in the same invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import grpc

from bench.checkout import ROOT, WORK, sources_path
from bench.latency import RESULTS, machine_lines, pct, sentence
from bench.locomo import CATEGORIES, Conversation, load_conversations, turn_text
from recalld.client import AsyncRecalld, RecalldError
from tests.harness import FalkorDBServer, MilvusServerProcess, ServerProcess, children, free_port

DATA = ROOT.parent / "shared" / "data" / "locomo-dev.json"
SEED_SHARE = 0.85
CLK = os.sysconf("SC_CLK_TCK")


# -- the workload ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    user: str
    speaker: str
    text: str
    dia_id: str
    session: int
    date: datetime | None


@dataclass(slots=True)
class Workload:
    seed: list[Turn]
    adds: dict[str, list[Turn]]  # per scope, in conversation order
    questions: list[tuple[str, str]]  # (scope, question), shuffled; each asked once

    @property
    def scopes(self) -> list[str]:
        return sorted(self.adds)


def workload(convs: Sequence[Conversation], copies: int, rng: random.Random) -> Workload:
    seed: list[Turn] = []
    adds: dict[str, list[Turn]] = {}
    questions: list[tuple[str, str]] = []
    for conv in convs:
        turns = [(s, t) for s in conv.sessions for t in s.turns if turn_text(t)]
        cut = int(len(turns) * SEED_SHARE)
        asked = [str(qa["question"]) for qa in conv.qa if int(qa.get("category", 0) or 0) in CATEGORIES]
        for k in range(copies):
            user = f"{conv.sample_id}-c{k}"
            mine = [Turn(user, str(t.get("speaker", "")), turn_text(t), t["dia_id"], s.n, s.date) for s, t in turns]
            seed += mine[:cut]
            adds[user] = mine[cut:]
            questions += [(user, q) for q in asked]
    rng.shuffle(questions)
    return Workload(seed, adds, questions)


async def _add(client: AsyncRecalld, turn: Turn) -> None:
    await client.add(
        {"role": "user", "name": turn.speaker, "content": turn.text},
        user_id=turn.user,
        metadata={"dia_id": turn.dia_id, "session": turn.session},
        reference_time=turn.date,
        timeout=300,
    )


async def seed(address: str, turns: Sequence[Turn], concurrency: int = 4) -> float:
    """Every seed turn, one Add each (per scope in order; scopes in parallel); turns/s."""
    by_scope: dict[str, list[Turn]] = {}
    for t in turns:
        by_scope.setdefault(t.user, []).append(t)
    queue = list(by_scope.values())
    t0 = time.perf_counter()
    done = [0]

    async def worker(client: AsyncRecalld) -> None:
        while queue:
            for turn in queue.pop():
                await _add(client, turn)
                done[0] += 1
                if done[0] % 500 == 0:
                    print(f"  seeded {done[0]} of {len(turns)} turns", flush=True)

    async with AsyncRecalld(address, timeout=300) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return len(turns) / (time.perf_counter() - t0)


# -- CPU accounting --------------------------------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def tree(pid: int) -> list[int]:
    out, frontier = [pid], [pid]
    while frontier:
        kids = children(frontier.pop())
        out += kids
        frontier += kids
    return out


class CpuMeter:
    """CPU seconds of process trees between start() and stop(); children that exit in between
    are counted through their parent's cutime/cstime."""

    def __init__(self, roots: Mapping[str, int]) -> None:
        self.roots = dict(roots)
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self._procs: dict[int, float] = {}
        self.processes: dict[str, float] = {}  # CPU seconds by role (server, model worker, Milvus Lite)

    def _read(self, pid: int) -> float:
        total = 0.0
        for p in tree(pid):
            total += _cpu_s(p)
            with contextlib.suppress(FileNotFoundError):
                f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(f[13]) + int(f[14])) / CLK  # cutime, cstime: reaped children
        return total

    def start(self) -> None:
        self._start = {k: self._read(p) for k, p in self.roots.items()}
        self._procs = {p: _cpu_s(p) for p in tree(self.roots["recalld"])}

    def stop(self) -> dict[str, float]:
        self.used = {k: self._read(p) - self._start[k] for k, p in self.roots.items()}
        self.processes = {_role(p): _cpu_s(p) - c for p, c in self._procs.items() if Path(f"/proc/{p}").exists()}
        return self.used


def _role(pid: int) -> str:
    """A recalld process by what it runs: the server, the model worker, Milvus Lite."""
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    if "spawn_main" in cmd:
        return "model worker"
    if "lite_process" in cmd:
        return "Milvus Lite"
    if "resource_tracker" in cmd:
        return "resource tracker"
    return "server" if " serve" in cmd else cmd[:40]


# -- the load --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    label: str
    clients: int
    seconds: float = 0.0
    search_ms: list[float] = field(default_factory=list)
    add_ms: list[float] = field(default_factory=list)
    rejected: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    peers_cpu_s: dict[str, float] = field(default_factory=dict)
    client_cpu_s: float = 0.0
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)
    processes: dict[str, float] = field(
        default_factory=dict
    )  # CPU seconds by recalld process  # stage -> (calls per op, ms per call)

    def row(self) -> str:
        s, a = self.search_ms or [0.0], self.add_ms or [0.0]
        ops = len(self.search_ms) + len(self.add_ms)
        cpu_op = 1000 * self.server_cpu_s / ops if ops else 0.0
        peers = ", ".join(f"{k} {1000 * v / max(1, ops):.1f}" for k, v in self.peers_cpu_s.items()) or "-"
        return (
            f"| {self.label} | {self.clients} | {len(self.search_ms) / self.seconds:.1f} | "
            f"{len(self.add_ms) / self.seconds:.1f} | "
            f"{pct(s, 50):.0f} / {pct(s, 95):.0f} / {pct(s, 99):.0f} | "
            f"{pct(a, 50):.0f} / {pct(a, 99):.0f} | {self.errors} | {self.rejected} | "
            f"{cpu_op:.1f} | {peers} | {self.client_cpu_s / self.seconds:.2f} |"
        )


HEADER = [
    "| server | clients | searches/s | adds/s | Search p50 / p95 / p99 ms | Add p50 / p99 ms | errors | "
    "rejected | server CPU ms/op | peers CPU ms/op | load generator cores |",
    "|---|---:|---:|---:|---|---|---:|---:|---:|---|---:|",
]


async def drive(
    address: str,
    work: Workload,
    clients: int,
    seconds: float,
    search_share: float,
    label: str,
    meter: CpuMeter,
    sentences: bool = False,
) -> Run:
    """``sentences``: each Add carries one synthetic first-person sentence (bench.latency's, as the
    scale benchmark adds) instead of the held-out LoCoMo turn, into the same scope: the issue's
    CPU per one-sentence Add."""
    run = Run(label, clients)
    facts = random.Random(11)
    questions = list(work.questions)
    adds = {u: list(ts) for u, ts in work.adds.items()}
    scopes = [u for u in adds if adds[u]]
    rng = random.Random(7)
    async with AsyncRecalld(address, timeout=120, options=[("grpc.use_local_subchannel_pool", 1)]) as client:
        await client.search("warm up", user_id=work.scopes[0])
        deadline = time.monotonic() + seconds

        async def caller() -> None:
            while time.monotonic() < deadline and questions:
                search = rng.random() < search_share or not scopes
                if search:
                    user, q = questions.pop()
                else:
                    user = rng.choice(scopes)
                    turn = adds[user].pop(0)
                    if sentences:
                        turn = replace(turn, text=sentence(facts))
                    if not adds[user]:
                        scopes.remove(user)
                t0 = time.perf_counter()
                try:
                    if search:
                        await client.search(q, user_id=user, limit=10)
                    else:
                        await _add(client, turn)
                except RecalldError as exc:
                    if exc.code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                        run.rejected += 1
                    else:
                        run.errors += 1
                        if len(run.error_samples) < 5:
                            run.error_samples.append(f"{exc.code}: {exc}")
                    continue
                (run.search_ms if search else run.add_ms).append((time.perf_counter() - t0) * 1000)

        meter.start()
        c0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(clients)))
        run.seconds = time.perf_counter() - t0
        run.client_cpu_s = time.process_time() - c0
        used = meter.stop()
    run.server_cpu_s = used.pop("recalld")
    run.processes = dict(meter.processes)
    run.peers_cpu_s = used
    return run


# -- servers ---------------------------------------------------------------------------------------------------------


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` under bench/.work (made once)."""
    path = WORK / f"baseline-{rev}"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True)
    return path


def stages(metrics_url: str, ops: int) -> dict[str, tuple[float, float]]:
    """Per stage (a store call, the embedder, the extractor): calls per operation and mean ms per
    call, from the server's /metrics (their latency histograms' _sum and _count)."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"recalld_(store_call|embedding|extraction)_duration_seconds_(sum|count)(\{[^}]*\})? (\S+)", line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        name = f"{labels['store']}.{labels['op']}" if m.group(1) == "store_call" else m.group(1)
        (sums if m.group(2) == "sum" else counts)[name] = float(m.group(4))
    return {
        k: (counts[k] / max(1, ops), 1000 * sums[k] / counts[k])
        for k in sorted(counts, key=lambda k: -sums[k])
        if counts[k]
    }


def server_env(code: Path | None) -> dict[str, str]:
    env = {"RECALLD_RECONCILE_INTERVAL_S": "0", "RECALLD_LOG_LEVEL": os.environ.get("RECALLD_LOG_LEVEL", "INFO")}
    if code is not None:  # another checkout's sources first on the path
        env["PYTHONPATH"] = sources_path(code)
    return env


@dataclass(slots=True)
class Backend:
    name: str
    tmp: Path
    stack: contextlib.ExitStack
    env: dict[str, str] = field(default_factory=dict)
    peers: dict[str, int] = field(default_factory=dict)

    def start_peers(self) -> None:
        if self.name != "falkordb+milvus":
            return
        falkor = FalkorDBServer(data_dir=self.tmp / "falkordb")
        falkor.start()
        self.stack.callback(falkor.stop)
        milvus = self.stack.enter_context(MilvusServerProcess(self.tmp / "milvus"))
        self.env |= {
            "RECALLD_GRAPH_BACKEND": "falkordb",
            "RECALLD_GRAPH_URI": falkor.url,
            "RECALLD_VECTOR_URI": milvus.uri,
        }
        assert falkor.pid is not None and milvus.proc is not None
        self.peers = {"falkordb": falkor.pid, "milvus": milvus.proc.pid}


def seed_key(copies: int) -> str:
    """What decides the seeded embedded data: the data file, the copies, the embedded schema
    version, and the extraction code."""
    h = hashlib.sha1(DATA.read_bytes())
    h.update(str(copies).encode())
    schema = re.search(r"^_SCHEMA_VERSION = (\d+)", (ROOT / "graph/recalld/graph/embedded/schema.py").read_text(), re.M)
    h.update(schema.group(1).encode() if schema else b"?")
    for module in sorted((ROOT / "services/recalld/extraction").glob("*.py")):
        h.update(module.read_bytes())
    return h.hexdigest()[:12]


@contextlib.contextmanager
def serving(
    data_dir: Path, backend: Backend, code: Path | None, log: Path, extra: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    metrics = f"127.0.0.1:{free_port()}"
    env = {**backend.env, **server_env(code), "RECALLD_METRICS_LISTEN": metrics, **(extra or {})}
    server = ServerProcess(data_dir, env=env, log_path=log)
    server.metrics_url = f"http://{metrics}/metrics"  # type: ignore[attr-defined]
    server.start(timeout=300)
    try:
        yield server
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("embedded", "falkordb+milvus"), default="embedded")
    ap.add_argument("--clients", type=int, nargs="+", default=[32, 8])
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--search-share", type=float, default=0.8)
    ap.add_argument("--search-only", action="store_true", help="100 %% Search (the CPU per Search)")
    ap.add_argument(
        "--sentence-adds",
        action="store_true",
        help="Adds of one synthetic sentence (with --search-share 0: CPU per Add)",
    )
    ap.add_argument("--baseline", default="", help="also run this commit's server, e.g. d0707de")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--env", action="append", default=[], help="K=V for this tree's servers (repeatable)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    share = 1.0 if args.search_only else args.search_share
    convs = load_conversations(args.data)
    now = datetime.now(UTC)
    runs: list[Run] = []
    seeding = ""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="busy-")))
        backend = Backend(args.backend, tmp, stack)
        backend.start_peers()
        work = workload(convs, args.copies, random.Random(1))
        seeded = WORK / f"busy-seed-{seed_key(args.copies)}"
        if args.backend == "embedded" and (seeded / "done").exists():
            seeding = f"seeded data reused from {seeded.relative_to(ROOT)}"
        else:
            target = seeded / "data" if args.backend == "embedded" else tmp / "seed"
            if args.backend == "embedded":  # (the production stores' seed lives in this run's peers)
                shutil.rmtree(seeded, ignore_errors=True)
            with serving(target, backend, None, tmp / "seed.log") as server:
                rate = asyncio.run(seed(server.address, work.seed))
            seeding = f"seeded {len(work.seed)} turns at {rate:.1f} turns/s (4 concurrent Adds)"
            if args.backend == "embedded":
                (seeded / "done").touch()
        print(seeding, flush=True)
        extra = dict(e.split("=", 1) for e in args.env)
        servers: list[tuple[str, Path | None]] = [("this tree" + "".join(f" {e}" for e in args.env), None)]
        if args.baseline:
            servers.append((f"{args.baseline} (before)", worktree(args.baseline)))
        for label, code in servers:
            for clients in args.clients:
                data = tmp / f"data-{len(runs)}"
                if args.backend == "embedded":
                    shutil.copytree(seeded / "data", data)
                else:
                    data = tmp / "seed"  # the production stores hold the data; the dir holds little
                with serving(
                    data, backend, code, tmp / f"server-{len(runs)}.log", extra if code is None else {}
                ) as server:
                    meter = CpuMeter({"recalld": server.pid, **backend.peers})
                    run = asyncio.run(
                        drive(server.address, work, clients, args.seconds, share, label, meter, args.sentence_adds)
                    )
                    run.stages = stages(server.metrics_url, len(run.search_ms) + len(run.add_ms))  # type: ignore[attr-defined]
                runs.append(run)
                print(HEADER[0], HEADER[1], run.row(), *run.error_samples, sep="\n", flush=True)
    mix = "Search only" if args.search_only else f"{round(share * 100)} % Search / {round((1 - share) * 100)} % Add"
    if args.sentence_adds:
        mix += " (Adds of one sentence)"
    lines = [
        f"# A busy platform: {args.backend}, {mix}",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.busy {' '.join(sys.argv[1:] if argv is None else argv)}`",
        f"- data: LoCoMo dev, {len(convs)} conversations x {args.copies} copies = {len(work.scopes)} scopes; "
        f"{len(work.seed)} seed turns; {len(work.questions)} distinct (scope, question) pairs, each asked at most "
        f"once per run; {sum(len(v) for v in work.adds.values())} turns held out for the Adds",
        f"- {seeding}",
        "- server CPU: utime + stime of every recalld process and its children, per completed operation; "
        "peers: FalkorDB and the Milvus server, per operation; load generator: one asyncio thread in the "
        "bench process, cores = its CPU seconds / wall seconds",
        "",
        *HEADER,
        *(r.row() for r in runs),
        "",
        "Stages, from each server's /metrics (latency histograms of every store call, the embedder and the",
        "extractor): calls per operation and mean ms per call. Latency, not CPU: it includes waiting for the",
        "store's thread or the model process.",
        "",
    ]
    for r in runs:
        ops = max(1, len(r.search_ms) + len(r.add_ms))
        split = ", ".join(f"{k} {1000 * v / ops:.1f}" for k, v in sorted(r.processes.items(), key=lambda kv: -kv[1]))
        lines += [f"### {r.label}, {r.clients} clients", "", f"CPU ms per operation by process: {split}", ""]
        lines += ["| stage | calls/op | ms/call |", "|---|---:|---:|"]
        lines += [f"| {k} | {c:.2f} | {ms:.2f} |" for k, (c, ms) in r.stages.items()]
        lines.append("")
    kind = "-search" if args.search_only else "-sentence-adds" if args.sentence_adds else ""
    out = args.out or RESULTS / f"busy-{args.backend}{kind}-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
