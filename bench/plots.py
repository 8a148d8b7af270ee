"""Plots of the performance results, drawn from the Markdown tables the benchmarks write.

    python -m bench.plots [RESULT.md ...]   (default: the newest million-, peruser- and load- files)

Each benchmark writes its figures as Markdown (the record); this draws them as PNG next to it,
so a plot can never disagree with its table:

* ``million-*.md``: Search/Add latency (p50, p95) and the load rate against the store's size;
* ``peruser-*.md``: latency by mode against the memories in one user's scope;
* ``load-*.md``: Searches/s and Search p99 of every load configuration, side by side.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.latency import RESULTS


def md_table(path: Path, first_header: str, column: str | None = None) -> list[dict[str, str]]:
    """The rows of the first Markdown table in ``path`` whose header starts with ``first_header``
    (and has ``column``)."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header and (column is None or column in cells):
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(cells, (c.strip() for c in row.strip().strip("|").split("|")), strict=False)))
            return rows
    raise ValueError(f"{path.name}: no table starting with {first_header!r}")


def number(cell: str) -> float:
    return float(cell.replace(",", "").replace("*", "").split()[0])


def _axes(title: str, xlabel: str, ylabel: str, *, logx: bool = False) -> tuple[object, object]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    return fig, ax


def plot_million(md: Path) -> Path:
    lat = md_table(md, "memories", "operation")
    fig, ax = _axes(f"recalld on FalkorDB + Milvus ({md.stem})", "memories in the stores", "ms over gRPC", logx=True)
    ops = list(dict.fromkeys(r["operation"] for r in lat))
    for i, op in enumerate(ops):
        xs = [number(r["memories"]) for r in lat if r["operation"] == op]
        ax.plot(xs, [number(r["p50"]) for r in lat if r["operation"] == op], "o-", color=f"C{i}", label=f"{op} p50")
        ax.plot(xs, [number(r["p95"]) for r in lat if r["operation"] == op], "x--", color=f"C{i}", label=f"{op} p95")
    ax.legend(fontsize=7)
    load = md_table(md, "memories", "stage rate memories/s")
    if load:
        twin = ax.twinx()
        twin.plot(
            [number(r["memories"]) for r in load],
            [number(r["stage rate memories/s"]) for r in load],
            "s:",
            color="grey",
            label="load rate",
        )
        twin.set_ylabel("load memories/s (grey)")
    return _save(fig, md)


def plot_peruser(md: Path) -> Path:
    rows = md_table(md, "memories in the scope")
    fig, ax = _axes(f"Search latency by one user's scope size ({md.stem})", "memories in the scope", "ms", logx=True)
    for i, mode in enumerate(dict.fromkeys(r["mode"] for r in rows)):
        xs = [number(r["memories in the scope"]) for r in rows if r["mode"] == mode]
        ax.plot(xs, [number(r["p50 ms"]) for r in rows if r["mode"] == mode], "o-", color=f"C{i}", label=f"{mode} p50")
        ax.plot(xs, [number(r["p95 ms"]) for r in rows if r["mode"] == mode], "x--", color=f"C{i}", label=f"{mode} p95")
    ax.legend(fontsize=7)
    return _save(fig, md)


def plot_load(files: Sequence[Path]) -> Path:
    names, rates, p99 = [], [], []
    for md in sorted(files):
        search = next(r for r in md_table(md, "op") if r["op"] == "Search")
        names.append(md.stem.removeprefix("load-").rsplit("-", 3)[0])
        rates.append(number(search["per s"]))
        p99.append(number(search["p99 ms"]))
    fig, ax = _axes("32 clients, 80/20 Search/Add: Searches/s (bars), Search p99 ms (labels)", "", "Searches/s")
    bars = ax.bar(range(len(names)), rates, color="C0")
    ax.axhline(80, color="C3", linestyle="--", label="issue target: 80 Searches/s, p99 <= 500 ms (production stores)")
    ax.legend(fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=7)
    for b, p in zip(bars, p99, strict=True):
        ax.annotate(f"p99 {p:.0f} ms", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", fontsize=7)
    return _save(fig, files[-1].with_name("load-configurations.md"))


def _save(fig: object, md: Path) -> Path:
    import matplotlib.pyplot as plt

    png = md.with_suffix(".png")
    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(png, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return png


def newest(prefix: str) -> list[Path]:
    return sorted(RESULTS.glob(f"{prefix}*.md"), key=lambda p: p.stat().st_mtime)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args(argv)
    files: list[Path] = args.files or [*newest("million-")[-1:], *newest("peruser-")[-1:]]
    for md in files:
        png = plot_million(md) if md.name.startswith("million") else plot_peruser(md)
        print(f"{md.name} -> {png.name}", file=sys.stderr)
    loads = [p for p in newest("load-") if p.suffix == ".md" and "configurations" not in p.name]
    if not args.files and loads:
        print(f"load -> {plot_load(loads).name}", file=sys.stderr)


if __name__ == "__main__":
    main()
