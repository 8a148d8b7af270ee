"""The `recalld` command: `recalld serve` runs the server; the other commands
are a client of a running server, built on recalld.client (address from --address or
RECALLD_ADDRESS). Global options (--address, --json, --timeout) go before or after the command.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

from recalld.client import GraphPath, Memory, Recalld, RecalldError
from recalld.server.import_files import parse_time, read_jsonl, read_locomo

DEFAULT_ADDRESS = "127.0.0.1:50051"
_MODES = ("hybrid", "vector", "graph")


class _Scope(TypedDict):
    user_id: str
    agent_id: str
    run_id: str


def _scope(a: argparse.Namespace) -> _Scope:
    return {"user_id": a.user or "", "agent_id": a.agent or "", "run_id": a.run or ""}


def _json_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


# A filter is a key (the server's key pattern), then the FIRST operator after it, then the value:
# "title=made in china" is title = "made in china", never an IN filter on "title=made".
_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_\-]{0,63})\s*(!=|>=|<=|=|>|<|\s+in\s+)(.*)$", re.DOTALL)
_OP_NAMES = {"=": "eq", "!=": "ne", ">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}


def parse_filter(expr: str) -> tuple[str, str, Any]:
    """`key=value`, `key!=value`, `key>=3`, `key in a,b` -> (key, op, value); values are parsed as
    JSON when they parse (3 is a number, "3" a string), else taken as text."""
    m = _FILTER.match(expr)
    if m is None:
        raise SystemExit(f"cannot parse filter {expr!r}: use key=value, key!=value, key>=n, key<n, 'key in a,b'")
    key, op, raw = m.group(1), m.group(2).strip(), m.group(3).strip()
    if op == "in":
        return key, "in", [_json_value(v.strip()) for v in raw.split(",")]
    return key, _OP_NAMES[op], _json_value(raw)


def _fmtparse_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _validity(m: Memory) -> str:
    """ "valid since 2024-03-01", or "valid 2023-01-01 .. 2024-03-01 (retired: single_valued:lives_in)"."""
    start = _fmtparse_time(m.valid_from or m.reference_time)[:10]
    if m.valid_to is None:
        return f"valid since {start}"
    return f"valid {start} .. {_fmtparse_time(m.valid_to)[:10]} (retired: {m.retired_by_rule or 'yes'})"


def _print_memory(m: Memory, prefix: str = "") -> None:
    print(f"{prefix}{m.id}  {m.text}")
    extra = f"  metadata={json.dumps(m.metadata)}" if m.metadata else ""
    print(f"{' ' * len(prefix)}  at {_fmtparse_time(m.reference_time)}, {_validity(m)}{extra}")


def _print_path(p: GraphPath, indent: str) -> None:
    print(f"{indent}path: {p.text}")


def _plain(value: Any) -> Any:
    """Client values as JSON-ready data (datetimes as ISO 8601)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# -- commands: each takes (client, args) and returns what --json prints ------------------------
def cmd_add(c: Recalld, a: argparse.Namespace) -> Any:
    result = c.add(
        [{"role": a.role, "content": t, "name": a.name or ""} for t in a.text],
        **_scope(a),
        metadata=json.loads(a.metadata) if a.metadata else None,
        reference_time=parse_time(a.at) if a.at else None,
        infer=not a.raw,
        mode="async" if a.async_ else "sync",
        importance=a.importance,
        ttl=a.ttl,
    )
    if not a.json:
        if result.operation_id:
            print(f"queued as operation {result.operation_id}  (recalld operation {result.operation_id} --wait)")
        elif not result.events:
            print("nothing to remember")
        for e in result.events:
            why = f"  [{e.rule}]" if e.rule else ""
            print(f"{e.event.upper():10} {e.memory.id}  {e.memory.text}{why}")
            for t in e.memory.triples:
                print(f"         ({t.subject}, {t.predicate}, {t.object})")
    return result


def cmd_import(c: Recalld, a: argparse.Namespace) -> Any:
    from tqdm import tqdm  # a dependency of spaCy; only this command needs it

    fmt = a.format or ("jsonl" if a.file.endswith((".jsonl", ".ndjson")) else "locomo")
    items = (read_jsonl if fmt == "jsonl" else read_locomo)(a.file, _scope(a))
    with tqdm(total=len(items), unit="msg", disable=a.json or a.quiet, desc=os.path.basename(a.file)) as bar:

        def progress(sent: int) -> None:
            bar.update(sent - bar.n)

        result = c.import_items(items, infer=a.infer, batch=a.batch, progress=progress, timeout=a.import_timeout)
    if not a.json:
        print(
            f"{result.received} items: {result.imported} imported, {result.skipped_duplicates} already imported "
            f"(skipped), {result.memories_written} memories written"
        )
    return result


def cmd_search(c: Recalld, a: argparse.Namespace) -> Any:
    hits = c.search(
        a.query,
        **_scope(a),
        limit=a.limit,
        threshold=a.threshold,
        mode=a.mode,
        filters=[parse_filter(f) for f in a.filter],
        as_of=parse_time(a.as_of) if a.as_of else None,
        include_retired=a.include_retired,
        levels=a.level,
        attributes=[_attribute(x) for x in a.attribute],
    )
    if not a.json:
        if not hits:
            print("no memories found")
        for i, h in enumerate(hits, 1):
            past = f"  (past: {_validity(h.memory)})" if h.retired else ""
            level = f" {h.level}" if a.level else ""
            print(f"{i:2}. [{h.score:.3f} {'+'.join(h.retrievers)}{level}] {h.memory.text}{past}")
            print(f"    id {h.memory.id}")
            for p in h.paths:
                _print_path(p, "    ")
    return {"hits": hits}


def _attribute(expr: str) -> tuple[str, str]:
    name, _, value = expr.partition("=")
    return name.strip(), value.strip()


def cmd_profile(c: Recalld, a: argparse.Namespace) -> Any:
    attrs = c.profile(**_scope(a), as_of=parse_time(a.as_of) if a.as_of else None, levels=a.level)
    if not a.json:
        if not attrs:
            print("no attributes")
        for x in attrs:
            since = f"  since {x.valid_from:%Y-%m-%d}" if x.valid_from else ""
            print(f"{x.category:12} {x.name} = {x.value}{since}  ({len(x.sources)} memories)")
    return {"attributes": attrs}


def cmd_operation(c: Recalld, a: argparse.Namespace) -> Any:
    ops = c.wait_operations(a.id) if a.wait else [c.get_operation(i) for i in a.id]
    if not a.json:
        for op in ops:
            extra = f"  {op.error}" if op.error else ""
            print(f"{op.id}  {op.status}  {len(op.results)} results{extra}")
            for r in op.results:
                print(f"    {r.event.upper():10} {r.memory_id}  [{r.rule}]")
    return {"operations": ops}


def cmd_grant(c: Recalld, a: argparse.Namespace) -> Any:
    if a.revoke:
        c.revoke_access(a.user, a.owner, a.grantee)
        if not a.json:
            print(f"revoked: {a.grantee} no longer reads {a.owner}'s memories of {a.user}")
        return {"revoked": True}
    g = c.grant_access(a.user, a.owner, a.grantee)
    if not a.json:
        print(f"granted: {g.grantee_agent} reads {g.owner_agent}'s memories of {g.user_id} (grant {g.id})")
    return g


def cmd_grants(c: Recalld, a: argparse.Namespace) -> Any:
    grants = c.list_grants(a.user, include_revoked=a.all)
    if not a.json:
        if not grants:
            print("no grants")
        for g in grants:
            ended = f", revoked {g.revoked_at:%Y-%m-%d %H:%M} by {g.revoked_by}" if g.revoked_at else ""
            print(
                f"{g.owner_agent} -> {g.grantee_agent}  granted {g.granted_at:%Y-%m-%d %H:%M} by {g.granted_by}{ended}"
            )
    return {"grants": grants}


def cmd_used(c: Recalld, a: argparse.Namespace) -> Any:
    n = c.mark_used(a.id, **_scope(a))
    if not a.json:
        print(f"marked {n} of {len(a.id)} as used")
    return {"marked": n}


def cmd_get(c: Recalld, a: argparse.Namespace) -> Any:
    m = c.get(a.id, **_scope(a))
    if not a.json:
        _print_memory(m)
        for t in m.triples:
            print(f"  ({t.subject}, {t.predicate}, {t.object})")
    return {"memory": m}


def cmd_list(c: Recalld, a: argparse.Namespace) -> Any:
    page = c.list(
        **_scope(a),
        page_size=a.page_size,
        page_token=a.page_token,
        filters=[parse_filter(f) for f in a.filter],
        include_retired=not a.current,
    )
    if not a.json:
        for m in page.memories:
            _print_memory(m)
        if page.next_page_token:
            print(f"more: --page-token {page.next_page_token}")
    return page


def cmd_update(c: Recalld, a: argparse.Namespace) -> Any:
    m = c.update(a.id, a.text, **_scope(a), expected_version=a.expected_version)
    if not a.json:
        _print_memory(m)
    return {"memory": m}


def cmd_history(c: Recalld, a: argparse.Namespace) -> Any:
    entries = c.history(a.id, **_scope(a))
    if not a.json:
        for e in entries:
            if e.event in ("add", "noop", "invalidate"):
                change = e.new_text or e.old_text
            else:
                change = f"{e.old_text!r} -> {e.new_text!r}"
            print(f"{_fmtparse_time(e.at)}  {e.event.upper():10} {change}  [{e.rule or '-'} by {e.actor}]")
    return {"entries": entries}


def cmd_delete(c: Recalld, a: argparse.Namespace) -> Any:
    if a.all:
        count = c.delete_all(**_scope(a))
        if not a.json:
            print(f"deleted {count} memories")
        return {"deleted_count": count}
    if not a.id:
        raise SystemExit("give a memory id, or --all to delete every memory of the scope")
    c.delete(a.id, **_scope(a), expected_version=a.expected_version)
    if not a.json:
        print(f"deleted {a.id}")
    return {}


def cmd_graph(c: Recalld, a: argparse.Namespace) -> Any:
    if a.to:
        paths = c.paths(a.entity, a.to, **_scope(a), max_depth=a.depth)
        if not a.json:
            if not paths:
                print("no path")
            for p in paths:
                print(p.text)
        return {"paths": paths}
    sub = c.subgraph(a.entity, **_scope(a), depth=a.depth)
    if not a.json:
        for e in sub.edges:
            print(f"{e.subject} -{e.predicate}-> {e.object}")
    return sub


def cmd_verify(c: Recalld, a: argparse.Namespace) -> Any:
    r = c.verify()
    if not a.json:
        state = "consistent" if r.consistent else "DRIFT"
        print(
            f"{state}: {r.memories} memories, {r.vectors} vectors, "
            f"{len(r.missing_vectors)} missing, {len(r.orphan_vectors)} orphaned"
        )
    return r


def cmd_reindex(c: Recalld, a: argparse.Namespace) -> Any:
    upserted, deleted = c.reindex(full=a.full)
    if not a.json:
        print(f"upserted {upserted}, deleted {deleted}")
    return {"upserted": upserted, "deleted": deleted}


def cmd_keys_create(c: Recalld, a: argparse.Namespace) -> Any:
    key, token = c.create_api_key(a.name, role=a.role, tenant=a.tenant or "", user_ids=a.user, agent_ids=a.agent)
    if not a.json:
        print(f"API key {key.id} for tenant {key.tenant} ({key.role}): store the token now, it is not shown again")
        print(token)
    return {"key": key, "token": token}


def cmd_keys_list(c: Recalld, a: argparse.Namespace) -> Any:
    keys = c.list_api_keys(tenant=a.tenant or "", include_revoked=a.all)
    if not a.json:
        for k in keys:
            limits = " ".join([*(f"user={u}" for u in k.user_ids), *(f"agent={x}" for x in k.agent_ids)])
            revoked = f"  REVOKED {_fmtparse_time(k.revoked_at)}" if k.revoked_at else ""
            print(f"{k.id}  {k.tenant}  {k.role:<5}  {k.name}  {limits}{revoked}")
    return keys


def cmd_keys_revoke(c: Recalld, a: argparse.Namespace) -> Any:
    key = c.revoke_api_key(a.key_id)
    if not a.json:
        print(f"revoked {key.id} ({key.name}, tenant {key.tenant})")
    return key


def cmd_erase(c: Recalld, a: argparse.Namespace) -> Any:
    r = c.erase(user_id=a.user or "", agent_id=a.agent or "", run_id=a.run or "")
    if not a.json:
        print(
            f"erased {r.memories} memories, {r.relations} relations, {r.entities} entities, {r.episodes} episodes, "
            f"{r.history_entries} history entries, {r.vectors} vectors, {r.operations} operations, {r.grants} grants"
            f" (receipt {r.id})"
        )
    return r


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The same options on the main parser (before the command, with defaults) and on every
    command (after it; SUPPRESS keeps a value given before the command when none is given after)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--address",
        default=default(os.environ.get("RECALLD_ADDRESS", DEFAULT_ADDRESS)),
        help="server host:port (RECALLD_ADDRESS, default 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--api-key",
        default=default(os.environ.get("RECALLD_API_KEY", "")),
        help="API key (rk_...) or JWT sent with every call (RECALLD_API_KEY)",
    )
    parser.add_argument("--json", action="store_true", default=default(False), help="print the result as JSON")
    parser.add_argument("--timeout", type=float, default=default(30.0), help="seconds per call (default 30)")


class _Commands:
    """Adds the client commands to the parser: each runs ``fn`` against a server."""

    def __init__(self, sub: Any) -> None:
        self.sub = sub
        self.client = argparse.ArgumentParser(add_help=False)
        _global_options(self.client, suppress=True)
        self.scoped = argparse.ArgumentParser(add_help=False, parents=[self.client])
        self.scoped.add_argument("--user", "-u", help="scope user_id")
        self.scoped.add_argument("--agent", "-a", help="scope agent_id")
        self.scoped.add_argument("--run", "-r", help="scope run_id")

    def add(
        self, name: str, fn: Callable[[Recalld, argparse.Namespace], Any], help: str, *, scoped: bool = True
    ) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = self.sub.add_parser(
            name, parents=[self.scoped if scoped else self.client], help=help
        )
        c.set_defaults(fn=fn)
        return c


_LEVELS = ("user", "session", "agent", "shared")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recalld", description="recalld: long-term memory for AI applications")
    _global_options(p, suppress=False)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (settings from RECALLD_* variables)")
    serve.add_argument("--listen", help="host:port (RECALLD_LISTEN, default 127.0.0.1:50051)")
    serve.add_argument("--data-dir", help="data directory (RECALLD_DATA_DIR, default ./data)")
    sub.add_parser("config-reference", help="print the configuration reference: every RECALLD_* variable (markdown)")

    commands = _Commands(sub)
    _write_commands(commands)
    _read_commands(commands)
    _admin_commands(commands)
    return p


def _write_commands(cmd: _Commands) -> None:
    c = cmd.add("add", cmd_add, "remember messages")
    c.add_argument("text", nargs="+", help="one message per argument")
    c.add_argument("--role", default="user")
    c.add_argument("--name", help="speaker name (first person maps to it)")
    c.add_argument("--metadata", help="JSON object")
    c.add_argument("--at", help="reference time, ISO 8601")
    c.add_argument("--raw", action="store_true", help="store as-is (infer=false)")
    c.add_argument("--async", dest="async_", action="store_true", help="answer once recorded (an operation id)")
    c.add_argument("--importance", type=float, help="0..1 (default 0.5): how slowly the memories fade")
    c.add_argument("--ttl", type=float, help="seconds until the memories expire")
    c = cmd.add("import", cmd_import, "bulk import a JSONL or LoCoMo-style file (resumable)")
    c.add_argument("file")
    c.add_argument("--format", choices=("jsonl", "locomo"), help="default: jsonl for .jsonl/.ndjson, else locomo")
    c.add_argument("--infer", action=argparse.BooleanOptionalAction, default=None, help="extract facts (default: yes)")
    c.add_argument("--batch", type=int, default=64, help="items per request (default 64)")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    c.add_argument(
        "--import-timeout", type=float, default=None, help="deadline of the whole import in seconds (default: none)"
    )
    c = cmd.add("operation", cmd_operation, "state of asynchronous Adds", scoped=False)
    c.add_argument("id", nargs="+")
    c.add_argument("--wait", action="store_true", help="wait until they are done")
    c = cmd.add("grant", cmd_grant, "let one agent read another agent's memories of a user", scoped=False)
    c.add_argument("user")
    c.add_argument("owner", help="the agent whose memories are shared")
    c.add_argument("grantee", help="the agent that may read them")
    c.add_argument("--revoke", action="store_true", help="end the grant instead")
    c = cmd.add("grants", cmd_grants, "grants about a user", scoped=False)
    c.add_argument("user")
    c.add_argument("--all", action="store_true", help="include revoked grants")
    c = cmd.add("used", cmd_used, "report memories as used (restarts their decay)")
    c.add_argument("id", nargs="+")
    c = cmd.add("update", cmd_update, "replace a memory's text")
    c.add_argument("id")
    c.add_argument("text")
    c.add_argument("--expected-version", type=int, default=0, help="only if the memory is at this version")
    c = cmd.add("delete", cmd_delete, "delete a memory (or --all of the scope)")
    c.add_argument("id", nargs="?")
    c.add_argument("--all", action="store_true")
    c.add_argument("--expected-version", type=int, default=0, help="only if the memory is at this version")


def _read_commands(cmd: _Commands) -> None:
    c = cmd.add("search", cmd_search, "search memories")
    c.add_argument("query")
    c.add_argument("--limit", "-n", type=int, default=10)
    c.add_argument("--threshold", type=float, default=0.0)
    c.add_argument("--mode", choices=_MODES, default="hybrid")
    c.add_argument(
        "--filter",
        "-f",
        action="append",
        default=[],
        help="metadata filter: k=v, k!=v, k>n, k>=n, k<n, k<=n, 'k in a,b'",
    )
    c.add_argument("--as-of", help="what held at this time (ISO 8601) instead of now")
    c.add_argument("--include-retired", action="store_true", help="also facts that no longer hold")
    c.add_argument("--level", action="append", choices=_LEVELS, default=[], help="search these levels (repeat)")
    c.add_argument("--attribute", action="append", default=[], help="only memories stating name[=value] (repeat)")
    c = cmd.add("profile", cmd_profile, "the scope's current attributes")
    c.add_argument("--as-of", help="the profile at this time (ISO 8601)")
    c.add_argument("--level", action="append", choices=_LEVELS, default=[], help="read these levels (repeat)")
    c = cmd.add("get", cmd_get, "show one memory")
    c.add_argument("id")
    c = cmd.add("list", cmd_list, "list memories, newest first")
    c.add_argument("--page-size", type=int, default=20)
    c.add_argument("--page-token", default="")
    c.add_argument("--filter", "-f", action="append", default=[])
    c.add_argument("--current", action="store_true", help="only facts that hold now")
    c = cmd.add("history", cmd_history, "a memory's change history")
    c.add_argument("id")
    c = cmd.add("graph", cmd_graph, "an entity's neighbourhood, or paths with --to")
    c.add_argument("entity")
    c.add_argument("--to", help="show paths from entity to this entity")
    c.add_argument("--depth", type=int, default=2)


def _admin_commands(cmd: _Commands) -> None:
    cmd.add("verify", cmd_verify, "report drift between graph and vector stores", scoped=False)
    keys = cmd.sub.add_parser("keys", help="API keys: create, list, revoke (admin role)").add_subparsers(
        dest="keys_command", required=True
    )
    c = keys.add_parser("create", parents=[cmd.client], help="create an API key (prints its token once)")
    c.set_defaults(fn=cmd_keys_create)
    c.add_argument("--name", required=True, help="who holds it (for the audit log)")
    c.add_argument("--role", choices=("read", "write", "admin"), default="read")
    c.add_argument("--tenant", help="default: the caller's tenant (another one needs the bootstrap key)")
    c.add_argument("--user", action="append", default=[], help="only this user (repeat)")
    c.add_argument("--agent", action="append", default=[], help="only this agent (repeat)")
    c = keys.add_parser("list", parents=[cmd.client], help="list API keys (never their tokens)")
    c.set_defaults(fn=cmd_keys_list)
    c.add_argument("--tenant")
    c.add_argument("--all", action="store_true", help="revoked keys too")
    c = keys.add_parser("revoke", parents=[cmd.client], help="revoke an API key")
    c.set_defaults(fn=cmd_keys_revoke)
    c.add_argument("key_id")
    cmd.add("erase", cmd_erase, "forget a user, agent or run entirely (prints the receipt)")
    c = cmd.add("reindex", cmd_reindex, "repair the vector index from the system of record", scoped=False)
    c.add_argument("--full", action="store_true", help="re-embed every memory")


def _serve(a: argparse.Namespace) -> int:
    from pathlib import Path

    from recalld.server.api.server import serve
    from recalld.server.environment import load_settings

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
    from recalld.server.logs import configure_audit, configure_logging

    configure_logging(settings.log.level, settings.log.format)
    configure_audit(settings.audit_log)
    asyncio.run(serve(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "config-reference":
        from recalld.server.config_reference import render

        sys.stdout.write(render())
        return 0
    scoped = "run" in vars(args)  # commands with --user/--agent/--run need one of them
    if scoped and not (args.user or args.agent or args.run):
        print("recalld: give a scope: --user, --agent and/or --run", file=sys.stderr)
        return 2
    try:
        with Recalld(args.address, timeout=args.timeout, api_key=args.api_key) as client:
            result = args.fn(client, args)
    except RecalldError as exc:
        print(f"recalld: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"recalld: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_plain(result), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
