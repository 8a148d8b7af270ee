"""A child process that writes to an EmbeddedGraphStore until it is SIGKILLed.

The crash contract tests start it with ``python crash_writer.py <graph.db>``: it opens the store
and prints ``{"ready": true}``, then reads one JSON request a line from stdin,
``{"op": "add_memories", "args": [...], "kwargs": {...}}``, awaits that write method of the store,
and only after it has returned prints the acknowledgement, ``{"ok": <result>}`` (or
``{"error": "<type>", "message": "..."}``). The test kills the process with SIGKILL at a moment of
its choosing, mid-write or not, then opens the store in its own process and checks what survived.

Arguments and results are domain values (recalld.kernel.domain dataclasses and enums, datetimes,
tuples, sets, dicts) in a tagged JSON encoding, ``encode``/``decode``, which the parent imports too.
This file imports nothing from ``tests`` so that it runs by path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from recalld.kernel import domain

# The GraphStore methods a test may ask the child to run: its writes.
WRITES = frozenset({"add_memories", "replace_memory", "delete_memories", "mark_indexed"})


def encode(value: Any) -> Any:
    """A JSON-able form of ``value``; every JSON object in it is a tag, ``decode`` inverts it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {"$set": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, enum.Enum):
        return {"$enum": type(value).__name__, "value": encode(value.value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$dataclass": type(value).__name__, "fields": fields}
    raise TypeError(f"cannot encode {type(value).__name__}: {value!r}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$tuple" in value:
        return tuple(decode(v) for v in value["$tuple"])
    if "$set" in value:
        return {decode(v) for v in value["$set"]}
    if "$dict" in value:
        return {decode(k): decode(v) for k, v in value["$dict"]}
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$enum" in value:
        return getattr(domain, value["$enum"])(decode(value["value"]))
    if "$dataclass" in value:
        cls = getattr(domain, value["$dataclass"])
        return cls(**{k: decode(v) for k, v in value["fields"].items()})
    raise ValueError(f"untagged JSON object: {value!r}")


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(path: Path) -> None:
    from recalld.graph.embedded import EmbeddedGraphStore

    store = EmbeddedGraphStore(path=path)
    await store.open()
    _reply({"ready": True})
    try:
        while line := await asyncio.to_thread(sys.stdin.readline):
            request = json.loads(line)
            op = request["op"]
            if op not in WRITES:
                _reply({"error": "ValueError", "message": f"not a write of the graph store: {op!r}"})
                continue
            try:
                result = await getattr(store, op)(*decode(request["args"]), **decode(request["kwargs"]))
            except Exception as exc:  # reported to the test, which decides what it expected
                _reply({"error": type(exc).__name__, "message": str(exc)})
                continue
            _reply({"ok": encode(result)})  # the acknowledgement: the write has returned
    finally:
        await store.close()  # only on stdin EOF; a crash test SIGKILLs the process first


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
