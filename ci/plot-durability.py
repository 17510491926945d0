#!/usr/bin/env python3
"""Draws the layout × sync-policy benchmark as one SVG of grouped bars.

Reads the `restore-sim compare --json` files that ci/bench-durability.sh writes
(compare-<layout>-<sync>.json, schema restore-sim/compare/v1). Draws one group per
(layout, sync) and one bar per strategy: the median keys/s, with a whisker from the slowest to
the fastest run. Usage: ci/plot-durability.py DIR [PREFIX] > out.svg
"""

import json
import sys
from pathlib import Path

STRATEGIES = ["join-async", "join-sync", "tree-then-kv", "wait-then-join", "verify-kv-tree", "pipelined"]
COLOURS = ["#9e9e9e", "#bdbdbd", "#8d6e63", "#a1887f", "#42a5f5", "#1565c0"]
CELLS = [(l, s) for l in ["one", "aptos"] for s in ["always", "barrier", "relaxed"]]


def load(directory: Path, prefix: str):
    cells = []
    for layout, sync in CELLS:
        path = directory / f"{prefix}compare-{layout}-{sync}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        if data.get("schema") != "restore-sim/compare/v1":
            sys.exit(f"{path}: unexpected schema {data.get('schema')!r}")
        rows = {r["strategy"]: r for r in data["rows"]}
        cells.append((layout, sync, rows))
    if not cells:
        sys.exit(f"no {prefix}compare-<layout>-<sync>.json in {directory}")
    return cells


def svg(cells) -> str:
    bar, gap, left, top, height = 14, 22, 70, 30, 260
    top_value = max(max(r["runs_keys_per_sec"]) for _, _, rows in cells for r in rows.values())
    scale = height / top_value
    width = left + len(cells) * (len(STRATEGIES) * bar + gap) + 180
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 60}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="16" font-size="13">keys/s, RocksDB, 1,000,000 keys, chunks of 4,000 '
        "(median of 3; whisker: slowest to fastest run)</text>",
    ]
    for tick in range(0, int(top_value) + 1, 50_000):
        y = top + height - tick * scale
        out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - 180}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{tick // 1000}k</text>')
    x = left
    for layout, sync, rows in cells:
        for i, name in enumerate(STRATEGIES):
            r = rows.get(name)
            if r is None:
                continue
            h = r["keys_per_sec"] * scale
            lo, hi = min(r["runs_keys_per_sec"]) * scale, max(r["runs_keys_per_sec"]) * scale
            bx = x + i * bar
            out.append(
                f'<rect x="{bx}" y="{top + height - h:.1f}" width="{bar - 2}" height="{h:.1f}" '
                f'fill="{COLOURS[i]}"><title>{layout}/{sync} {name}: {r["keys_per_sec"]:,.0f} keys/s, '
                f'{r["fsyncs_per_chunk"]:.2f} fsyncs/chunk</title></rect>'
            )
            cx = bx + (bar - 2) / 2
            out.append(
                f'<line x1="{cx}" y1="{top + height - lo:.1f}" x2="{cx}" y2="{top + height - hi:.1f}" '
                'stroke="#333"/>'
            )
        mid = x + len(STRATEGIES) * bar / 2
        out.append(f'<text x="{mid}" y="{top + height + 16}" text-anchor="middle">{layout}</text>')
        out.append(f'<text x="{mid}" y="{top + height + 30}" text-anchor="middle">{sync}</text>')
        x += len(STRATEGIES) * bar + gap
    for i, name in enumerate(STRATEGIES):
        y = top + 10 + i * 16
        out.append(f'<rect x="{x + 10}" y="{y - 9}" width="10" height="10" fill="{COLOURS[i]}"/>')
        out.append(f'<text x="{x + 26}" y="{y}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.stdout.write(svg(load(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) == 3 else "")))
