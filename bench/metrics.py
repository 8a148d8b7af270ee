"""What a server's time goes to, from its own Prometheus ``/metrics``: store calls, embedding
batches and RPCs, summed between two scrapes (bench.million, bench.scale); and a py-spy profile
folded into the functions that take the most time."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

_CALL_METRICS = {
    "recalld_store_call_duration_seconds": lambda labels: f"{labels['store']}.{labels['op']}",
    "recalld_embedding_duration_seconds": lambda labels: "embedder.embed",
    "recalld_rpc_duration_seconds": lambda labels: f"rpc {labels['method']}",
}


def call_seconds(metrics_url: str) -> dict[str, tuple[float, float]]:
    """(summed seconds, calls) per store call, embedding batch and RPC, from a /metrics scrape."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        m = re.match(r"(\w+)_(sum|count)(?:\{([^}]*)\})? (\S+)$", line)
        if not m or m.group(1) not in _CALL_METRICS:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        key = _CALL_METRICS[m.group(1)](labels)
        out.setdefault(key, [0.0, 0.0])[0 if m.group(2) == "sum" else 1] += float(m.group(4))
    return {k: (v[0], v[1]) for k, v in out.items()}


def per_search(
    before: Mapping[str, tuple[float, float]], after: Mapping[str, tuple[float, float]], n: int
) -> dict[str, tuple[float, float]]:
    """Calls per Search and mean ms per call, between two scrapes around ``n`` Searches."""
    out = {}
    for k, (s1, c1) in after.items():
        s0, c0 = before.get(k, (0.0, 0.0))
        if c1 > c0:
            out[k] = ((c1 - c0) / n, 1000 * (s1 - s0) / (c1 - c0))
    return out


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start py-spy sampling ``pid`` (every thread, 100 Hz) for ``seconds`` into ``out`` as
    collapsed stacks; the caller drives load meanwhile and waits for the process."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--duration",
         str(int(seconds)), "--rate", "100", "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _frame(frame: str) -> tuple[str, str]:
    """``fn (path/to/module.py:12)`` -> (``fn (to/module.py)``, ``path/to/module.py``)."""
    m = re.match(r"(.*) \(([^:]*)(?::\d+)?\)$", frame)
    if not m:
        return frame, ""
    short = "/".join(m.group(2).split("/")[-2:])
    return f"{m.group(1)} ({short})", m.group(2)


# recalld's own code, as py-spy names its files (relative to the source roots), less the request
# wrappers every Search passes through (interceptors, the error translation, the server's loop)
_OURS = re.compile(r"^(kernel|core|extraction|llm|server|graph|vector)/")
_WRAPPERS = re.compile(r"^server/(cli\.py|api/(interceptor|admission|guard|errors)\.py)")


# waits py-spy counts as running (the blocking call is C code under a Python frame)
_IDLE = frozenset(
    {"EpollSelector.select (selectors.py)", "_worker (futures/thread.py)", "Condition.wait (threading.py)"}
)


def hot_functions(folded: Path, top: int = 15) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From py-spy's collapsed stacks: recalld's functions by inclusive share (the function and
    what it called), and every function (libraries too) by self share (its own code), each as a
    share of the samples in which a thread was working (idle threads and known waits left out)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        if frames[-1][0] in _IDLE:
            continue
        busy += n
        own[frames[-1][0]] += n
        for name in dict.fromkeys(f for f, path in frames if _OURS.match(path) and not _WRAPPERS.match(path)):
            inclusive[name] += n
    if not busy:
        return [], []
    return (
        [(f, n / busy) for f, n in inclusive.most_common(top)],
        [(f, n / busy) for f, n in own.most_common(top)],
    )


def breakdown_section(per_size: Iterable[tuple[str, Mapping[str, tuple[float, float]]]], when: str) -> list[str]:
    """The Markdown section "Where a hybrid Search's time goes": for each (size label, breakdown
    from :func:`per_search`), the calls, most time first. ``when``: which Searches were scraped."""
    return [
        "## Where a hybrid Search's time goes",
        "",
        f"From the server's own `/metrics` (store-call, embedding and RPC histograms), scraped before and after "
        f"{when}: calls per Search and mean time per call. Calls run partly concurrently (vector and full-text "
        "search together), so the column does not add up to the RPC.",
        "",
        "| memories | call | calls per Search | mean ms | ms per Search |",
        "|---:|---|---:|---:|---:|",
        *(
            f"| {size} | {k} | {n:.2f} | {ms:.1f} | {n * ms:.1f} |"
            for size, breakdown in per_size
            for k, (n, ms) in sorted(breakdown.items(), key=lambda kv: -kv[1][0] * kv[1][1])
        ),
    ]
