"""Two tenants under concurrent load, over real gRPC against a real `recalld serve` with auth on.

    python -m bench.tenants [--seconds 60] [--clients 32] [--backend embedded|falkordb+milvus] [--fault]

``--clients`` concurrent clients (half per tenant, each with its tenant's write key) run a mix of
Add (one sentence, infer on; ~30%), Search (~55%) and Delete of one of the tenant's own memories
(~15%) over ~20 users per tenant (the same user ids in both tenants) for ``--seconds``. Every
search hit is checked against the ids each tenant was given by its Adds: a hit on the other
tenant's memory is a cross-tenant hit (must be 0). Afterwards every acknowledged Add's memories
that were not deleted must be readable (Get), and Verify of each tenant (admin key) must be
consistent after the reconciler's passes (RECALLD_RECONCILE_INTERVAL_S=2).

``--fault`` (falkordb+milvus): in the middle of the run the Milvus server is killed (SIGKILL of
its process group), kept down ~10 s and restarted on the same data directory and ports. Adds
may fail with UNAVAILABLE or be acknowledged (and must then be indexed once Milvus is back);
Search must answer UNAVAILABLE naming Milvus, never INTERNAL.

Writes bench/results/tenants-<backend>-<date>.md (tenants-fault-<date>.md with ``--fault``);
:func:`run` returns a :class:`LoadResult` for the e2e test (tests/e2e/test_tenant_load.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc

from bench.latency import QUERIES, RESULTS, machine_lines, pct, sentence
from recalld.client import AsyncRecalld, NotFound, RecalldError, RetryPolicy, VerifyReport
from tests.e2e.secure import SecureServer
from tests.harness import FalkorDBServer, MilvusServerProcess
from tests.harness import children as harness_children

TENANTS = ("tenant-a", "tenant-b")
USERS = [f"user-{i:02d}" for i in range(20)]  # the same user ids in both tenants
OPS = ("add", "search", "delete")
NO_RETRY = RetryPolicy(attempts=1)
FAULT_AT = 0.35  # Milvus is killed this far into the load
OUTAGE_S = 10.0  # how long Milvus stays down in the fault run
AFTER_RECOVERY_S = 10.0  # the fault run's load goes on this long after recalld serves Search again
RECOVERY_BUDGET_S = 180.0  # ... or at most this long after Milvus answers again (or after the restart began)


# -- Milvus: kill and restart on the same data directory and ports ---------------------------------
class MilvusOutage:
    """Kills a running :class:`MilvusServerProcess` (SIGKILL of its process group) and starts the
    same Milvus binary again: the same command line, environment and working directory (hence the
    same generated config: data directory and every port), read from /proc before the kill.

    The ``milvus-server`` wrapper itself is not re-run: it probes each configured port with a
    plain ``bind`` (no SO_REUSEADDR), which fails while the killed server's connections sit in
    TIME_WAIT; the Go binary's listeners reuse the address. The restarted process becomes
    ``milvus.proc`` (leader of its own process group), so ``milvus.stop()`` stops it."""

    def __init__(self, milvus: MilvusServerProcess) -> None:
        assert milvus.proc is not None and milvus.proc.poll() is None, "Milvus is not running"
        self.milvus = milvus
        child = milvus.proc.pid  # the wrapper, or the binary itself once restarted here
        if _cmdline(child)[-2:] != ["run", "standalone"]:
            children = harness_children(child)
            if len(children) != 1:
                raise RuntimeError(f"expected one Milvus child process of {child}, found {children}")
            child = children[0]
        proc = Path(f"/proc/{child}")
        self.argv = _cmdline(child)
        self.env = dict(kv.decode().split("=", 1) for kv in (proc / "environ").read_bytes().split(b"\0") if b"=" in kv)
        self.cwd = os.readlink(proc / "cwd")
        self.killed_at = 0.0
        self.ready_at = 0.0

    def kill(self) -> None:
        proc = self.milvus.proc
        assert proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.killed_at = time.monotonic()

    def restart(self, timeout: float = 180.0) -> float:
        """Start Milvus again and wait until it answers; returns the seconds that took."""
        from pymilvus import MilvusClient

        t0 = time.monotonic()
        log = (self.milvus.data_dir / "server.log").open("ab")
        self.milvus.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        health = f"http://127.0.0.1:{self.env.get('METRICS_PORT', '9091')}/healthz"
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.milvus.proc.poll() is not None:
                raise RuntimeError(f"restarted Milvus exited with {self.milvus.proc.returncode}")
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as r:
                if r.status == 200:
                    client = MilvusClient(uri=self.milvus.uri, timeout=10)
                    client.list_collections()
                    client.close()
                    self.ready_at = time.monotonic()
                    return self.ready_at - t0
            time.sleep(0.2)
        raise TimeoutError(f"restarted Milvus not ready after {timeout}s")


def _cmdline(pid: int) -> list[str]:
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]


# -- the load -------------------------------------------------------------------------------------
@dataclass
class LoadResult:
    backend: str
    fault: bool
    seconds: float  # wall time of the load
    clients: int
    ops: Counter[str] = field(default_factory=Counter)  # successful calls per op
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # successful calls
    cross_tenant_hits: int = 0
    unknown_hits: int = 0  # hits on ids neither tenant was given (checked again after the load)
    errors: list[str] = field(default_factory=list)  # unexpected: must be empty
    unavailable: Counter[str] = field(default_factory=Counter)  # per op, in the outage window (fault run)
    unavailable_samples: list[str] = field(default_factory=list)
    unavailable_without_milvus: int = 0  # UNAVAILABLE whose message does not name Milvus
    internal: Counter[str] = field(default_factory=Counter)  # INTERNAL / UNKNOWN per op (also in errors)
    adds_acknowledged: int = 0
    adds_acknowledged_in_outage: int = 0
    memories_checked: int = 0  # acknowledged and not deleted: each must Get
    memories_lost: list[str] = field(default_factory=list)
    deleted: int = 0
    verify: dict[str, str] = field(default_factory=dict)  # tenant -> report summary
    verify_consistent: bool = False
    verify_wait_s: float = 0.0  # after the load, until every tenant's Verify was consistent
    milvus_down_s: float = 0.0  # kill to restart
    milvus_restart_s: float = 0.0  # restart to answering
    recover_s: float = 0.0  # Milvus answering -> first successful Search through recalld
    first_unavailable_s: float = 0.0  # kill -> first UNAVAILABLE seen by a client
    hits_checked: int = 0
    server_log: str = ""
    server_log_tracebacks: int = 0
    alongside: list[str] = field(default_factory=list)  # other processes on the machine, sampled mid-load

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and not self.cross_tenant_hits
            and not self.unknown_hits
            and not self.memories_lost
            and self.verify_consistent
        )


@dataclass
class _Tenant:
    name: str
    write_key: str
    admin_key: str
    given: set[str] = field(default_factory=set)  # every memory id an Add of this tenant returned
    alive: dict[str, str] = field(default_factory=dict)  # memory id -> user, acknowledged and not deleted
    deleting: set[str] = field(default_factory=set)  # claimed by a Delete (in flight or done)
    unknown: set[str] = field(default_factory=set)  # hits not (yet) in ``given``


class _Load:
    def __init__(self, server: SecureServer, tenants: list[_Tenant], result: LoadResult, seed: int) -> None:
        self.server = server
        self.tenants = tenants
        self.r = result
        self.seed = seed
        self.outage_start = 0.0  # monotonic; 0: no outage
        self.outage_end = 0.0  # Milvus answering again
        self.recovered = 0.0  # first Search through recalld that succeeded after outage_end
        self.stop_at = 0.0

    def in_outage(self, t0: float, t1: float) -> bool:
        """A call [t0, t1] overlapped the outage (kill .. first good Search after the restart)."""
        if not self.outage_start or t1 < self.outage_start:
            return False
        return not self.recovered or t0 <= self.recovered

    async def client(self, n: int, tenant: _Tenant) -> None:
        rnd = random.Random(self.seed * 1000 + n)
        other = next(t for t in self.tenants if t is not tenant)
        async with AsyncRecalld(self.server.address, api_key=tenant.write_key, retry=NO_RETRY, timeout=60) as c:
            while time.monotonic() < self.stop_at:
                user = rnd.choice(USERS)
                roll = rnd.random()
                mine = [m for m, u in tenant.alive.items() if u == user] if roll >= 0.85 else []
                op = "add" if roll < 0.30 else "search" if roll < 0.85 or not mine else "delete"
                victim = ""
                if op == "delete":
                    victim = rnd.choice(mine)
                    del tenant.alive[victim]  # claimed: no other client deletes it (one event loop)
                    tenant.deleting.add(victim)
                t0 = time.monotonic()
                try:
                    if op == "add":
                        res = await c.add(sentence(rnd), user_id=user)
                    elif op == "search":
                        hits = await c.search(rnd.choice(QUERIES), user_id=user, limit=10)
                    else:
                        await c.delete(victim, user_id=user)
                except RecalldError as exc:
                    t1 = time.monotonic()
                    if op == "delete" and not isinstance(exc, NotFound):
                        tenant.deleting.discard(victim)
                        tenant.alive[victim] = user  # not deleted (UNAVAILABLE): still must be there
                    self.failed(op, exc, t0, t1)
                    continue
                t1 = time.monotonic()
                self.r.ops[op] += 1
                self.r.latencies_ms[op].append((t1 - t0) * 1000)
                if op == "add":
                    self.r.adds_acknowledged += 1
                    if self.in_outage(t0, t1):
                        self.r.adds_acknowledged_in_outage += 1
                    for e in res.events:  # new, reinforced, corrected or retired: each must still Get
                        tenant.given.add(e.memory.id)
                        if e.memory.id not in tenant.deleting:  # a noop on a memory deleted meanwhile
                            tenant.alive[e.memory.id] = user
                        tenant.given.update(e.related_ids)
                elif op == "search":
                    if self.outage_end and not self.recovered and t0 >= self.outage_end:
                        self.recovered = t1
                    for h in hits:
                        self.r.hits_checked += 1
                        if h.memory.id in other.given:
                            self.r.cross_tenant_hits += 1
                            self.r.errors.append(f"cross-tenant hit: {tenant.name} got {h.memory.id} of {other.name}")
                        elif h.memory.id not in tenant.given:
                            tenant.unknown.add(h.memory.id)  # an Add in flight? checked after the load
                        if h.memory.user_id != user:
                            self.r.errors.append(f"{tenant.name} search for {user} returned {h.memory.user_id}")
                else:
                    self.r.deleted += 1

    def failed(self, op: str, exc: RecalldError, t0: float, t1: float) -> None:
        code = exc.code
        if code is grpc.StatusCode.UNAVAILABLE and self.in_outage(t0, t1):
            self.r.unavailable[op] += 1
            if not self.r.first_unavailable_s:
                self.r.first_unavailable_s = t1 - self.outage_start
            if "milvus" not in exc.message.lower():
                self.r.unavailable_without_milvus += 1
            if len(self.r.unavailable_samples) < 6 and not any(
                s.startswith(f"{op}:") for s in self.r.unavailable_samples
            ):
                self.r.unavailable_samples.append(f"{op}: {exc.message[:200]}")
            return
        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            self.r.internal[op] += 1
        when = f"{t1 - self.outage_start:+.1f}s from the kill" if self.outage_start else "no outage"
        self.r.errors.append(f"{op}: {code.name}: {exc.message[:300]} ({when})")


async def _setup_keys(server: SecureServer) -> list[_Tenant]:
    out = []
    async with AsyncRecalld(server.address, api_key=server.bootstrap, retry=NO_RETRY) as c:
        for name in TENANTS:
            _, write = await c.create_api_key(f"{name}-load-write", role="write", tenant=name)
            _, admin = await c.create_api_key(f"{name}-load-admin", role="admin", tenant=name)
            out.append(_Tenant(name, write, admin))
    return out


async def _warm_up(server: SecureServer, tenants: list[_Tenant]) -> None:
    """Open each tenant's stores and load the models (untimed); the memories are tracked."""
    for t in tenants:
        async with AsyncRecalld(server.address, api_key=t.write_key, retry=NO_RETRY, timeout=120) as c:
            for i, user in enumerate(USERS[:4]):
                res = await c.add(sentence(random.Random(i)), user_id=user)
                for e in res.events:
                    t.given.add(e.memory.id)
                    t.alive[e.memory.id] = user
                await c.search(QUERIES[0], user_id=user)


async def _verify_all(server: SecureServer, tenants: list[_Tenant], result: LoadResult, budget: float) -> None:
    t0 = time.monotonic()
    while True:
        reports: dict[str, VerifyReport | RecalldError] = {}
        for t in tenants:
            async with AsyncRecalld(server.address, api_key=t.admin_key, retry=NO_RETRY, timeout=60) as c:
                try:
                    reports[t.name] = await c.verify()
                except RecalldError as exc:
                    reports[t.name] = exc
        consistent = all(not isinstance(r, Exception) and r.consistent for r in reports.values())
        result.verify = {
            name: (
                f"{type(r).__name__}: {r}"
                if isinstance(r, Exception)
                else f"consistent={r.consistent} memories={r.memories} vectors={r.vectors} "
                f"missing={len(r.missing_vectors)} orphans={len(r.orphan_vectors)} "
                f"orphan_relations={r.orphan_relations} orphan_entities={r.orphan_entities}"
            )
            for name, r in reports.items()
        }
        result.verify_wait_s = time.monotonic() - t0
        if consistent or result.verify_wait_s > budget:
            result.verify_consistent = consistent
            return
        await asyncio.sleep(1.0)


async def _check_memories(server: SecureServer, tenants: list[_Tenant], result: LoadResult) -> None:
    """Every acknowledged, undeleted memory can be read; hits on ids unknown during the load were
    given to their tenant after all (an Add in flight)."""
    for t in tenants:
        other = next(o for o in tenants if o is not t)
        for mid in t.unknown:
            if mid in other.given:
                result.cross_tenant_hits += 1
                result.errors.append(f"cross-tenant hit: {t.name} got {mid} of {other.name}")
            elif mid not in t.given:
                result.unknown_hits += 1
                result.errors.append(f"{t.name}: a search hit {mid} that no Add of it returned")
        async with AsyncRecalld(server.address, api_key=t.admin_key, retry=NO_RETRY, timeout=60) as c:
            sem = asyncio.Semaphore(8)

            async def get(
                mid: str, user: str, c: AsyncRecalld = c, t: _Tenant = t, sem: asyncio.Semaphore = sem
            ) -> None:
                async with sem:
                    try:
                        await c.get(mid, user_id=user)
                    except RecalldError as exc:
                        result.memories_lost.append(f"{t.name}/{user}/{mid}: {exc}")

            await asyncio.gather(*(get(m, u) for m, u in t.alive.items()))
        result.memories_checked += len(t.alive)


async def _drive(
    server: SecureServer, result: LoadResult, seconds: float, clients: int, outage: MilvusOutage | None, seed: int
) -> None:
    tenants = await _setup_keys(server)
    await _warm_up(server, tenants)
    load = _Load(server, tenants, result, seed)
    t_start = time.monotonic()
    load.stop_at = t_start + seconds
    tasks = [asyncio.create_task(load.client(n, tenants[n % 2])) for n in range(clients)]

    async def fault() -> None:
        assert outage is not None
        await asyncio.sleep(seconds * FAULT_AT)
        await asyncio.to_thread(outage.kill)
        load.outage_start = outage.killed_at
        load.stop_at = max(load.stop_at, outage.killed_at + OUTAGE_S + RECOVERY_BUDGET_S)  # load on until recovered
        await asyncio.sleep(OUTAGE_S)
        result.milvus_down_s = time.monotonic() - outage.killed_at
        result.milvus_restart_s = await asyncio.to_thread(outage.restart)
        load.outage_end = outage.ready_at
        load.stop_at = max(load.stop_at, outage.ready_at + RECOVERY_BUDGET_S)
        while not load.recovered and time.monotonic() < load.stop_at:
            await asyncio.sleep(0.1)
        if load.recovered:
            load.stop_at = max(seconds + t_start, load.recovered + AFTER_RECOVERY_S)

    async def sample() -> None:
        await asyncio.sleep(seconds / 2)
        result.alongside.append(f"mid-load: {await asyncio.to_thread(alongside)}")

    if outage is not None:
        tasks.append(asyncio.create_task(fault()))
    tasks.append(asyncio.create_task(sample()))
    await asyncio.gather(*tasks)
    result.seconds = time.monotonic() - t_start
    if outage is not None:
        result.recover_s = load.recovered - outage.ready_at if load.recovered else -1.0
    await _verify_all(server, tenants, result, budget=120.0)
    await _check_memories(server, tenants, result)


def run(
    root: Path,
    *,
    backend: str = "embedded",
    seconds: float = 60.0,
    clients: int = 32,
    fault: bool = False,
    env: Mapping[str, str] | None = None,
    milvus: MilvusServerProcess | None = None,
    seed: int = 7,
    keep_log: Path | None = None,
) -> LoadResult:
    """Run the load against a fresh server in ``root``. With ``env`` (and ``milvus`` for a fault
    run) the stores are those servers; without, falkordb+milvus starts its own servers here."""
    if fault and backend != "falkordb+milvus":
        raise ValueError("the fault run needs --backend falkordb+milvus")
    result = LoadResult(backend=backend, fault=fault, seconds=seconds, clients=clients)
    with contextlib.ExitStack() as stack:
        if env is None:
            env, milvus = _start_backends(backend, root, stack)
        if fault and milvus is None:
            raise ValueError("a fault run needs the Milvus server process")
        server_env = {**env, "RECALLD_RECONCILE_INTERVAL_S": "2"}
        server = stack.enter_context(SecureServer(root / "secure", env=server_env))
        outage = MilvusOutage(milvus) if fault and milvus is not None else None
        try:
            asyncio.run(_drive(server, result, seconds, clients, outage, seed))
        finally:
            result.server_log = str(server.server.log_path)
            result.server_log_tracebacks = server.server.log().count("Traceback (most recent call last)")
            if keep_log is not None:
                shutil.copyfile(server.server.log_path, keep_log)
                result.server_log = str(keep_log)
            if outage is not None and milvus is not None and (milvus.proc is None or milvus.proc.poll() is not None):
                outage.restart()  # never leave a shared Milvus down
    return result


def _start_backends(
    backend: str, root: Path, stack: contextlib.ExitStack
) -> tuple[dict[str, str], MilvusServerProcess | None]:
    if backend == "embedded":
        return {}, None
    falkor = FalkorDBServer(data_dir=root / "falkordb")
    falkor.start()
    stack.callback(falkor.stop)
    milvus = stack.enter_context(MilvusServerProcess(root / "milvus"))
    env = {"RECALLD_GRAPH_BACKEND": "falkordb", "RECALLD_GRAPH_URI": falkor.url, "RECALLD_VECTOR_URI": milvus.uri}
    return env, milvus


# -- report ---------------------------------------------------------------------------------------
def report(result: LoadResult, now: datetime, argv: str, concurrent: str) -> list[str]:
    def row(op: str) -> str:
        xs = result.latencies_ms.get(op) or [0.0]
        return (
            f"| {op} | {result.ops[op]} | {result.ops[op] / result.seconds:.1f} | "
            f"{pct(xs, 50):.0f} | {pct(xs, 95):.0f} | {pct(xs, 99):.0f} | {max(xs):.0f} |"
        )

    total = sum(result.ops.values())
    title = "Milvus killed mid-load" if result.fault else result.backend
    lines = [
        f"# Two tenants under load, auth on ({title})",
        "",
        *machine_lines(now),
        f"- `{argv}`: a real `recalld serve` with authentication on, two tenants with stores of their own, "
        f"{result.clients} concurrent gRPC clients ({result.clients // 2} per tenant, each with its tenant's write "
        f"key, no client retries): Add of one sentence (infer on) ~30%, Search ~55%, Delete of one of the tenant's "
        f"own memories ~15%, over {len(USERS)} users per tenant (the same user ids in both tenants); "
        "audit log on (stderr); RECALLD_RECONCILE_INTERVAL_S=2",
        f"- running alongside on the machine: {concurrent}",
        "",
        "| op | ok calls | per s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
        *(row(op) for op in OPS),
        f"| all | {total} | {total / result.seconds:.1f} | | | | |",
        "",
        f"- load: {result.seconds:.1f} s; {result.hits_checked} search hits checked; cross-tenant hits: "
        f"**{result.cross_tenant_hits}**; hits on unknown ids: {result.unknown_hits}",
        f"- unexpected errors: **{len(result.errors)}**",
        *(f"  - `{e}`" for e in result.errors[:8]),
        f"- acknowledged Adds: {result.adds_acknowledged}; memories acknowledged and not deleted, each read back "
        f"with Get: {result.memories_checked}, missing: **{len(result.memories_lost)}**; deleted: {result.deleted}",
        f"- Verify after the load (admin key of each tenant): consistent = **{result.verify_consistent}** after "
        f"{result.verify_wait_s:.1f} s",
        *(f"  - {name}: {summary}" for name, summary in result.verify.items()),
        f"- server log: {result.server_log_tracebacks} tracebacks",
    ]
    if result.fault:
        lines += [
            "",
            "## The fault",
            "",
            f"- Milvus (standalone server, its whole process group) killed with SIGKILL "
            f"{FAULT_AT:.0%} into the load, down {result.milvus_down_s:.1f} s, then restarted "
            f"on the same data directory and ports; it answered again after {result.milvus_restart_s:.1f} s",
            f"- first UNAVAILABLE seen by a client {result.first_unavailable_s:.1f} s after the kill; first successful "
            f"Search through recalld {result.recover_s:.1f} s after Milvus answered again",
            "- UNAVAILABLE during the outage, per op: "
            + ", ".join(f"{op} {result.unavailable[op]}" for op in OPS)
            + f"; of which not naming Milvus: {result.unavailable_without_milvus}",
            "- INTERNAL/UNKNOWN: " + ", ".join(f"{op} {result.internal[op]}" for op in OPS),
            f"- Adds acknowledged while Milvus was down or recovering: {result.adds_acknowledged_in_outage} "
            "(indexed by the reconciler once Milvus was back: see Verify above, 0 missing vectors)",
            "- messages seen:",
            *(f"  - `{s}`" for s in result.unavailable_samples),
        ]
    return lines


def alongside() -> str:
    """What else runs on the machine: recalld servers, Milvus servers, pytest, the load average."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    servers = sum("recalld.server.cli serve" in a for a in out)
    milvus = sum(a.endswith("milvus run standalone") for a in out)
    pytest = sum("pytest" in a and "python" in a for a in out)
    load = os.getloadavg()
    return (
        f"`recalld.server.cli serve` processes {servers} (this run's own included), Milvus servers {milvus}, "
        f"pytest processes {pytest}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--backend", choices=("embedded", "falkordb+milvus"), default="embedded")
    ap.add_argument("--fault", action="store_true", help="kill and restart the Milvus server mid-load")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    now = datetime.now(UTC)
    before = alongside()
    with tempfile.TemporaryDirectory(prefix="bench-tenants-") as tmp:
        name = "tenants-fault" if args.fault else f"tenants-{args.backend.replace('+', '-')}"
        log = Path(tempfile.gettempdir()) / f"bench-{name}-server.log"
        result = run(
            Path(tmp), backend=args.backend, seconds=args.seconds, clients=args.clients, fault=args.fault, keep_log=log
        )
        print(f"server log: {log}")
    argv = f"python -m bench.tenants --seconds {args.seconds:g} --clients {args.clients} --backend {args.backend}"
    argv += " --fault" if args.fault else ""
    lines = report(result, now, argv, "; ".join([f"at the start: {before}", *result.alongside]))
    out = args.out or RESULTS / f"{name}-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    raise SystemExit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
