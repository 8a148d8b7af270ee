"""The `recalld` command: `recalld serve` runs the server; the other commands
are a gRPC client of a running server (address from --address or RECALLD_ADDRESS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from recalld.v1 import admin_pb2, admin_pb2_grpc, common_pb2, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
_MODES = {
    "hybrid": memory_pb2.RETRIEVAL_MODE_HYBRID,
    "vector": memory_pb2.RETRIEVAL_MODE_VECTOR,
    "graph": memory_pb2.RETRIEVAL_MODE_GRAPH,
}
_OPS = {
    "=": memory_pb2.FILTER_OP_EQ,
    "!=": memory_pb2.FILTER_OP_NE,
    ">=": memory_pb2.FILTER_OP_GTE,
    "<=": memory_pb2.FILTER_OP_LTE,
    ">": memory_pb2.FILTER_OP_GT,
    "<": memory_pb2.FILTER_OP_LT,
}


def _scope(a: argparse.Namespace) -> common_pb2.Scope:
    return common_pb2.Scope(user_id=a.user or "", agent_id=a.agent or "", run_id=a.run or "")


def _json_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_filter(expr: str) -> memory_pb2.MetadataFilter:
    """`key=value`, `key!=value`, `key>=3`, `key in a,b` (values parsed as JSON when they parse)."""
    if " in " in expr:
        key, raw = expr.split(" in ", 1)
        value = struct_pb2.Value()
        value.list_value.extend([_json_value(v.strip()) for v in raw.split(",")])
        return memory_pb2.MetadataFilter(key=key.strip(), op=memory_pb2.FILTER_OP_IN, value=value)
    for op in ("!=", ">=", "<=", "=", ">", "<"):
        if op in expr:
            key, raw = expr.split(op, 1)
            value = json_format.ParseDict(_json_value(raw.strip()), struct_pb2.Value())
            return memory_pb2.MetadataFilter(key=key.strip(), op=_OPS[op], value=value)
    raise SystemExit(f"cannot parse filter {expr!r}: use key=value, key!=value, key>=n, key<n, 'key in a,b'")


def _fmt_time(ts: Any) -> str:
    return str(ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M"))


def _print_memory(m: common_pb2.Memory, prefix: str = "") -> None:
    print(f"{prefix}{m.id}  {m.text}")
    meta = json_format.MessageToDict(m.metadata)
    extra = f"  metadata={json.dumps(meta)}" if meta else ""
    print(f"{' ' * len(prefix)}  at {_fmt_time(m.reference_time)}{extra}")


def _print_path(p: common_pb2.GraphPath, indent: str) -> None:
    print(f"{indent}path: {p.text}")


# -- commands: each takes (stubs, args) and returns the response message ----------------------
def cmd_add(s: Stubs, a: argparse.Namespace) -> Any:
    meta = struct_pb2.Struct()
    if a.metadata:
        meta.update(json.loads(a.metadata))
    req = memory_pb2.AddRequest(
        scope=_scope(a),
        messages=[memory_pb2.Message(role=a.role, content=t, name=a.name or "") for t in a.text],
        metadata=meta,
        infer=not a.raw,
    )
    if a.at:
        req.reference_time.FromDatetime(datetime.fromisoformat(a.at).astimezone(UTC))
    resp = s.memory.Add(req, timeout=a.timeout)
    if not a.json:
        if not resp.results:
            print("nothing to remember")
        for r in resp.results:
            print(f"{memory_pb2.Event.Name(r.event).removeprefix('EVENT_'):6} {r.memory.id}  {r.memory.text}")
            for t in r.memory.triples:
                print(f"         ({t.subject}, {t.predicate}, {t.object})")
    return resp


def cmd_search(s: Stubs, a: argparse.Namespace) -> Any:
    req = memory_pb2.SearchRequest(
        scope=_scope(a),
        query=a.query,
        limit=a.limit,
        threshold=a.threshold,
        mode=_MODES[a.mode],
        filters=[parse_filter(f) for f in a.filter],
    )
    resp = s.memory.Search(req, timeout=a.timeout)
    if not a.json:
        if not resp.hits:
            print("no memories found")
        for i, h in enumerate(resp.hits, 1):
            found = "+".join(memory_pb2.Retriever.Name(r).removeprefix("RETRIEVER_").lower() for r in h.retrievers)
            print(f"{i:2}. [{h.score:.3f} {found}] {h.memory.text}")
            print(f"    id {h.memory.id}")
            for p in h.paths:
                _print_path(p, "    ")
    return resp


def cmd_get(s: Stubs, a: argparse.Namespace) -> Any:
    resp = s.memory.Get(memory_pb2.GetRequest(scope=_scope(a), memory_id=a.id), timeout=a.timeout)
    if not a.json:
        _print_memory(resp.memory)
        for t in resp.memory.triples:
            print(f"  ({t.subject}, {t.predicate}, {t.object})")
    return resp


def cmd_list(s: Stubs, a: argparse.Namespace) -> Any:
    req = memory_pb2.ListRequest(
        scope=_scope(a), page_size=a.page_size, page_token=a.page_token, filters=[parse_filter(f) for f in a.filter]
    )
    resp = s.memory.List(req, timeout=a.timeout)
    if not a.json:
        for m in resp.memories:
            _print_memory(m)
        if resp.next_page_token:
            print(f"more: --page-token {resp.next_page_token}")
    return resp


def cmd_update(s: Stubs, a: argparse.Namespace) -> Any:
    resp = s.memory.Update(memory_pb2.UpdateRequest(scope=_scope(a), memory_id=a.id, text=a.text), timeout=a.timeout)
    if not a.json:
        _print_memory(resp.memory)
    return resp


def cmd_history(s: Stubs, a: argparse.Namespace) -> Any:
    resp = s.memory.History(memory_pb2.HistoryRequest(scope=_scope(a), memory_id=a.id), timeout=a.timeout)
    if not a.json:
        for e in resp.entries:
            change = e.new_text if e.event == memory_pb2.EVENT_ADD else f"{e.old_text!r} -> {e.new_text!r}"
            print(f"{_fmt_time(e.at)}  {memory_pb2.Event.Name(e.event).removeprefix('EVENT_'):6} {change}")
    return resp


def cmd_delete(s: Stubs, a: argparse.Namespace) -> Any:
    if a.all:
        resp = s.memory.DeleteAll(memory_pb2.DeleteAllRequest(scope=_scope(a)), timeout=a.timeout)
        if not a.json:
            print(f"deleted {resp.deleted_count} memories")
        return resp
    if not a.id:
        raise SystemExit("give a memory id, or --all to delete every memory of the scope")
    resp = s.memory.Delete(memory_pb2.DeleteRequest(scope=_scope(a), memory_id=a.id), timeout=a.timeout)
    if not a.json:
        print(f"deleted {a.id}")
    return resp


def cmd_graph(s: Stubs, a: argparse.Namespace) -> Any:
    if a.to:
        resp = s.graph.Paths(
            graph_pb2.PathsRequest(scope=_scope(a), source=a.entity, target=a.to, max_depth=a.depth), timeout=a.timeout
        )
        if not a.json:
            if not resp.paths:
                print("no path")
            for p in resp.paths:
                print(p.text)
        return resp
    resp = s.graph.Subgraph(
        graph_pb2.SubgraphRequest(scope=_scope(a), entity=a.entity, depth=a.depth), timeout=a.timeout
    )
    if not a.json:
        for e in resp.edges:
            print(f"{e.subject} -{e.predicate}-> {e.object}")
    return resp


def cmd_verify(s: Stubs, a: argparse.Namespace) -> Any:
    resp = s.admin.Verify(admin_pb2.VerifyRequest(), timeout=a.timeout)
    if not a.json:
        state = "consistent" if resp.consistent else "DRIFT"
        print(
            f"{state}: {resp.memories} memories, {resp.vectors} vectors, "
            f"{len(resp.missing_vectors)} missing, {len(resp.orphan_vectors)} orphaned"
        )
    return resp


def cmd_reindex(s: Stubs, a: argparse.Namespace) -> Any:
    resp = s.admin.Reindex(admin_pb2.ReindexRequest(full=a.full), timeout=a.timeout)
    if not a.json:
        print(f"upserted {resp.upserted}, deleted {resp.deleted}")
    return resp


class Stubs:
    def __init__(self, channel: grpc.Channel) -> None:
        self.memory = memory_pb2_grpc.MemoryServiceStub(channel)
        self.graph = graph_pb2_grpc.GraphServiceStub(channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recalld", description="recalld: long-term memory for AI applications")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (settings from RECALLD_* variables)")
    serve.add_argument("--listen", help="host:port (RECALLD_LISTEN, default 127.0.0.1:50051)")
    serve.add_argument("--data-dir", help="data directory (RECALLD_DATA_DIR, default ./data)")

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--address",
        default=os.environ.get("RECALLD_ADDRESS", DEFAULT_ADDRESS),
        help="server host:port (RECALLD_ADDRESS)",
    )
    client.add_argument("--json", action="store_true", help="print the response as JSON")
    client.add_argument("--timeout", type=float, default=30.0, help="seconds")
    scoped = argparse.ArgumentParser(add_help=False, parents=[client])
    scoped.add_argument("--user", "-u", help="scope user_id")
    scoped.add_argument("--agent", "-a", help="scope agent_id")
    scoped.add_argument("--run", "-r", help="scope run_id")

    def command(
        name: str, fn: Callable[[Stubs, argparse.Namespace], Any], parent: argparse.ArgumentParser, help: str
    ) -> argparse.ArgumentParser:
        c = sub.add_parser(name, parents=[parent], help=help)
        c.set_defaults(fn=fn)
        return c

    c = command("add", cmd_add, scoped, "remember messages")
    c.add_argument("text", nargs="+", help="one message per argument")
    c.add_argument("--role", default="user")
    c.add_argument("--name", help="speaker name (first person maps to it)")
    c.add_argument("--metadata", help="JSON object")
    c.add_argument("--at", help="reference time, ISO 8601")
    c.add_argument("--raw", action="store_true", help="store as-is (infer=false)")
    c = command("search", cmd_search, scoped, "search memories")
    c.add_argument("query")
    c.add_argument("--limit", "-n", type=int, default=10)
    c.add_argument("--threshold", type=float, default=0.0)
    c.add_argument("--mode", choices=sorted(_MODES), default="hybrid")
    c.add_argument("--filter", "-f", action="append", default=[], help="metadata filter, e.g. topic=health")
    c = command("get", cmd_get, scoped, "show one memory")
    c.add_argument("id")
    c = command("list", cmd_list, scoped, "list memories, newest first")
    c.add_argument("--page-size", type=int, default=20)
    c.add_argument("--page-token", default="")
    c.add_argument("--filter", "-f", action="append", default=[])
    c = command("update", cmd_update, scoped, "replace a memory's text")
    c.add_argument("id")
    c.add_argument("text")
    c = command("history", cmd_history, scoped, "a memory's change history")
    c.add_argument("id")
    c = command("delete", cmd_delete, scoped, "delete a memory (or --all of the scope)")
    c.add_argument("id", nargs="?")
    c.add_argument("--all", action="store_true")
    c = command("graph", cmd_graph, scoped, "an entity's neighbourhood, or paths with --to")
    c.add_argument("entity")
    c.add_argument("--to", help="show paths from entity to this entity")
    c.add_argument("--depth", type=int, default=2)
    command("verify", cmd_verify, client, "report drift between graph and vector stores")
    c = command("reindex", cmd_reindex, client, "repair the vector index from the system of record")
    c.add_argument("--full", action="store_true", help="re-embed every memory")
    return p


def _serve(a: argparse.Namespace) -> int:
    from pathlib import Path

    from recalld.server.api.server import serve
    from recalld.server.config import load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"recalld: invalid configuration: {exc}", file=sys.stderr)
        return 2
    overrides: dict[str, Any] = {}
    if a.listen:
        overrides["listen"] = a.listen
    if a.data_dir:
        overrides["data_dir"] = Path(a.data_dir)
    if overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)
    logging.basicConfig(level=settings.log_level.value, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Milvus Lite runs a sync gRPC server in-process and logs a harmless traceback
    # (AllocTimestamp not implemented) when pymilvus creates an index; faiss logs
    # every CPU feature probe. recalld's own server is grpc.aio and logs elsewhere.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    asyncio.run(serve(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command not in ("verify", "reindex") and not (args.user or args.agent or args.run):
        print("recalld: give a scope: --user, --agent and/or --run", file=sys.stderr)
        return 2
    with grpc.insecure_channel(args.address) as channel:
        try:
            resp = args.fn(Stubs(channel), args)
        except grpc.RpcError as exc:
            print(f"recalld: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    if args.json:
        print(json_format.MessageToJson(resp, always_print_fields_with_no_presence=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
