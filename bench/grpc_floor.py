"""The floor of one gRPC call in Python: the server CPU of a unary call that does nothing.

    python -m bench.grpc_floor [--calls 5000] [--out PATH]

A grpc.aio server (as recalld's) with one generic echo method, in its own process; a client in
this process calls it one call at a time with a 200-byte payload. The server process's CPU
(utime + stime from /proc) per call is the cost any RPC of recalld pays before its handler runs:
a floor for "CPU per Search" that no change inside recalld can go below.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import grpc

from bench.latency import machine_lines


def _serve(ports: Queue[int], stop: Event) -> None:
    async def main() -> None:
        async def echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            return request

        handler = grpc.method_handlers_generic_handler(
            "floor.Floor", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
        )
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        ports.put(port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop(0)

    asyncio.run(main())


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(calls: int) -> tuple[float, float]:
    """(server CPU ms per call, wall ms per call)."""
    ports: Queue[int] = mp.Queue()
    stop = mp.Event()
    proc = mp.Process(target=_serve, args=(ports, stop))
    proc.start()
    try:
        port = ports.get(timeout=30)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/floor.Floor/Echo")
            payload = b"x" * 200
            for _ in range(300):  # warm-up
                call(payload)
            assert proc.pid is not None
            cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
            for _ in range(calls):
                call(payload)
            cpu1, t1 = _cpu_s(proc.pid), time.perf_counter()
        return (cpu1 - cpu0) / calls * 1000, (t1 - t0) / calls * 1000
    finally:
        stop.set()
        proc.join(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    runs = [measure(args.calls) for _ in range(args.rounds)]
    best = min(runs)
    lines = [
        "# The floor of one gRPC call: a grpc.aio server that does nothing",
        "",
        *machine_lines(datetime.now(UTC)),
        f"- command: `python -m bench.grpc_floor --calls {args.calls} --rounds {args.rounds}`",
        "",
        "| round | server CPU ms per call | wall ms per call |",
        "|---:|---:|---:|",
        *(f"| {i + 1} | {cpu:.3f} | {wall:.3f} |" for i, (cpu, wall) in enumerate(runs)),
        "",
        f"Floor (the lowest round): **{best[0]:.3f} ms** of server CPU per unary call.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
