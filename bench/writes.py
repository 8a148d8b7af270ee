"""Write-path latency: Update and Delete (compare-and-set on the memory's version) and the
Update + Update + Delete race, over real gRPC against a real `recalld serve`.

    python -m bench.writes [--backend embedded|falkordb+milvus] [--memories N] [--samples N]

To compare with an older checkout (e.g. before compare-and-set), point ``--server-path`` at its
source tree and ``--server-module`` at its CLI module (``services.cli`` before recalld 0.2); the
client side stays this checkout's. Results go to bench/results/writes-<backend>-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.latency import backend_env, machine_lines, sentence, summary
from recalld.client import Conflict, NotFound, Recalld
from tests.harness import ServerProcess

RESULTS = Path(__file__).resolve().parent / "results"


def _ms(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - t) * 1000


def race(client: Recalld, user: str, n: int) -> tuple[float, Counter[str]]:
    """``n`` memories, each hit by two Updates and a Delete at once from 32 threads."""
    ids = [m.id for m in client.add([f"I have a friend named Tom{1000 + i}." for i in range(n)], user_id=user).added]
    outcomes: Counter[str] = Counter()

    def update(mid: str, k: int) -> str:
        try:
            client.update(mid, f"My friend Ann{k} moved to Paris.", user_id=user)
            return "update ok"
        except Conflict:
            return "update aborted"
        except NotFound:
            return "update not_found"

    def delete(mid: str) -> str:
        client.delete(mid, user_id=user)
        return "delete ok"

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [
            f
            for i, m in enumerate(ids)
            for f in (pool.submit(update, m, 2 * i), pool.submit(update, m, 2 * i + 1), pool.submit(delete, m))
        ]
        outcomes.update(f.result() for f in futures)
    return time.perf_counter() - t0, outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("embedded", "falkordb+milvus"), default="embedded")
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--race-rounds", type=int, default=5)
    ap.add_argument("--server-path", help="source tree of another checkout to serve from (PYTHONPATH)")
    ap.add_argument("--server-module", default="recalld.server.cli")
    ap.add_argument("--label", default="", help="name of the server build in the results file name")
    args = ap.parse_args()
    r = random.Random(11)

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = backend_env(args.backend, Path(tmp), stack)
        if args.server_path:
            env["PYTHONPATH"] = args.server_path
        server = stack.enter_context(ServerProcess(Path(tmp) / "data", env=env, module=args.server_module))
        client = stack.enter_context(Recalld(server.address, timeout=120))
        ids: list[tuple[str, str]] = []
        per_user = max(1, args.memories // args.users)
        for u in range(args.users):
            user = f"user-{u:03d}"
            for start in range(0, per_user, 25):
                batch = [sentence(r) + f" Note {u}-{start + i}." for i in range(min(25, per_user - start))]
                ids += [(user, m.id) for m in client.add(batch, user_id=user, infer=False).added]
        r.shuffle(ids)
        sample = ids[: args.samples * 2]
        get_ms = [_ms(lambda u=u, m=m: client.get(m, user_id=u)) for u, m in sample[: args.samples]]
        update_ms = [
            _ms(lambda u=u, m=m, i=i: client.update(m, sentence(r) + f" Changed {i}.", user_id=u))
            for i, (u, m) in enumerate(sample[: args.samples])
        ]
        delete_ms = [_ms(lambda u=u, m=m: client.delete(m, user_id=u)) for u, m in sample[args.samples :]]
        races = [race(client, f"race-{k}", 40) for k in range(args.race_rounds)]
        verify = client.verify()

    totals: Counter[str] = Counter()
    for _, outcome in races:
        totals.update(outcome)
    now = datetime.now(UTC)
    label = args.label or ("this checkout" if not args.server_path else args.server_path)
    lines = [
        f"# recalld write path over gRPC, {len(ids)} memories ({args.backend}; server: {label})",
        "",
        *machine_lines(now),
        f"- {args.samples} sequential calls each on random memories of {args.users} users; "
        "Update re-extracts and re-embeds the text; infer=False seed data",
        "",
        "| call | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|",
        f"| Get | {summary(get_ms)} |",
        f"| Update | {summary(update_ms)} |",
        f"| Delete | {summary(delete_ms)} |",
        "",
        f"Race: {args.race_rounds} rounds x 40 memories x (Update + Update + Delete) from 32 threads: "
        f"{sum(t for t, _ in races) / len(races):.2f} s per round; outcomes {dict(sorted(totals.items()))}; "
        f"Verify afterwards: consistent={verify.consistent}, {verify.memories} memories, {verify.vectors} vectors, "
        f"{len(verify.orphan_vectors)} orphan vectors.",
        "",
        "Reproduce: `python -m bench.writes --backend " + args.backend + "`",
    ]
    RESULTS.mkdir(exist_ok=True)
    tag = "".join(c if c.isalnum() else "-" for c in (args.label or "current"))
    out = RESULTS / f"writes-{args.backend.replace('+', '-')}-{tag}-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
