"""The files `recalld import` reads: JSON Lines (one message per line) and LoCoMo-style
conversation files, as the import items the client sends."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def parse_time(text: str) -> datetime:
    """ISO 8601; without a zone it is UTC."""
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


_LOCOMO_DATE = ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%d %B, %Y", "%d %B %Y", "%Y-%m-%d")


def locomo_date(text: str) -> datetime | None:
    """A LoCoMo session date ("1:56 pm on 8 May, 2023") in UTC; None when it does not parse."""
    for fmt in _LOCOMO_DATE:
        try:
            return datetime.strptime(" ".join(text.split()), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def read_jsonl(path: str, scope: Mapping[str, object]) -> list[dict[str, Any]]:
    """Import items of a JSONL file: one message per line, ``{"role", "content", "name",
    "timestamp" or "reference_time", "metadata", "source_id", "infer"}`` (only ``content``
    required); the source id defaults to "<file name>:<line number>"."""
    name = os.path.basename(path)
    items: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}:{n}: not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{name}:{n}: each line must be a JSON object")
            at = row.get("reference_time", row.get("timestamp"))
            item: dict[str, Any] = {
                **scope,
                "source_id": str(row.get("source_id") or f"{name}:{n}"),
                "role": row.get("role", "user"),
                "content": row.get("content", ""),
                "name": row.get("name", ""),
                "metadata": row.get("metadata") or {},
                "reference_time": parse_time(str(at)) if at else None,
            }
            if "infer" in row:
                item["infer"] = bool(row["infer"])
            items.append(item)
    return items


def read_locomo(path: str, scope: Mapping[str, object]) -> list[dict[str, Any]]:
    """Import items of a LoCoMo-style file (a list of conversations: ``sample_id``,
    ``conversation`` with ``session_<n>`` turn lists and ``session_<n>_date_time``): one item per
    turn, said by its ``speaker`` at the session's date; source id "<file>:<sample_id>:<dia_id>",
    metadata ``{"sample_id", "session", "dia_id"}``."""
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    items: list[dict[str, Any]] = []
    for conv in data if isinstance(data, list) else [data]:
        sample = str(conv.get("sample_id", ""))
        sessions = conv.get("conversation", {})
        numbers = sorted(int(m.group(1)) for k in sessions if (m := re.fullmatch(r"session_(\d+)", k)))
        for n in numbers:
            at = locomo_date(str(sessions.get(f"session_{n}_date_time", "")))
            for turn in sessions[f"session_{n}"]:
                text = str(turn.get("text", "")).strip()
                caption = str(turn.get("blip_caption") or "").strip()
                if caption:
                    text = f"{text} [shares a photo of {caption}]".strip()
                if not text:
                    continue
                dia = str(turn.get("dia_id", ""))
                items.append(
                    {
                        **scope,
                        "source_id": f"{name}:{sample}:{dia}",
                        "role": "user",
                        "content": text,
                        "name": str(turn.get("speaker", "")),
                        "metadata": {"sample_id": sample, "session": n, "dia_id": dia},
                        "reference_time": at,
                    }
                )
    return items
