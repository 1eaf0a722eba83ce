#!/usr/bin/env python3
"""Statistics, Markdown report and bar chart for scripts/bench (stdlib + optional matplotlib).

    python3 scripts/bench_report.py RESULTS_DIR --markdown docs/BENCHMARKS.md --chart docs/benchmarks.png

RESULTS_DIR holds the tab-separated files scripts/bench writes (one record a line, no header):
  meta.tsv     key, value                      (machine, versions, database, command line)
  cmps.tsv     cmp, title                      (comparisons, in the order they ran)
  sides.tsv    cmp, side, role, label, short, command file, description
               role A = ehrdata, B = an anchor (a tool it is compared with)
  results.tsv  cmp, side, run, wall s, user s, sys s, max RSS KiB, output bytes, exit status
  notes.tsv    cmp, text                       (cmp "_global" for the whole report)
  mem.tsv      label, db bytes, backup max RSS KiB, restore max RSS KiB
The command files are shown in the report with the work dir and binary path shortened.
"""
import argparse
import csv
import datetime
import os
import statistics
import sys


def read_tsv(path, width):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if not row:
                continue
            row += [""] * (width - len(row))
            rows.append(row[:width])
    return rows


def human_bytes(n):
    if n is None:
        return "—"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def secs(x):
    if x is None:
        return "—"
    return f"{x:.2f}" if x < 100 else f"{x:.1f}"


def ratio_text(b, a):
    if a is None or b is None or a <= 0:
        return "—"
    return f"{b / a:.2f}"


def compare_words(a, b, what, unit="s"):
    """One honest sentence part: how ehrdata's median a compares with an anchor's median b."""
    if a is None or b is None:
        return None
    if a <= 0 and b <= 0:
        return f"{what}: both ~0 {unit}"
    if a <= 0 or b <= 0:
        return f"{what}: {secs(a)} vs {secs(b)} {unit}"
    r = b / a
    if 0.95 <= r <= 1.05:
        return f"{what}: about the same ({secs(a)} vs {secs(b)} {unit})"
    if r > 1:
        return f"{what}: ehrdata is **{r:.2f}× faster** ({secs(a)} vs {secs(b)} {unit})" if unit == "s" \
            else f"{what}: ehrdata uses **{r:.2f}× less** ({secs(a)} vs {secs(b)} {unit})"
    return f"{what}: ehrdata is **{1 / r:.2f}× slower** ({secs(a)} vs {secs(b)} {unit})" if unit == "s" \
        else f"{what}: ehrdata uses **{1 / r:.2f}× more** ({secs(a)} vs {secs(b)} {unit})"


class Side:
    def __init__(self, row, results_dir, shorten):
        self.cmp, self.key, self.role, self.label, self.short, cmdfile, self.desc = row
        self.command = ""
        if cmdfile:
            path = cmdfile if os.path.isabs(cmdfile) else os.path.join(results_dir, cmdfile)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    lines = [ln for ln in f.read().splitlines()
                             if ln.strip() and not ln.startswith("set -") and not ln.startswith("#!")]
                self.command = shorten("\n".join(lines))
        self.runs = []  # dicts

    def ok_runs(self):
        return [r for r in self.runs if r["rc"] == 0]

    def median(self, key):
        vals = [r[key] for r in self.ok_runs()]
        return statistics.median(vals) if vals else None

    def spread(self, key):
        vals = [r[key] for r in self.ok_runs()]
        return (min(vals), max(vals)) if vals else (None, None)

    def peak_rss(self):
        vals = [r["rss"] for r in self.ok_runs()]
        return max(vals) if vals else None

    def output(self):
        vals = [r["out"] for r in self.ok_runs() if r["out"] is not None]
        return statistics.median(vals) if vals else None


def load(results_dir):
    meta = {k: v for k, v in read_tsv(os.path.join(results_dir, "meta.tsv"), 2)}
    work = meta.get("work_dir", "")
    binary = meta.get("ehrdata_bin", "")

    def shorten(text):
        if binary:
            text = text.replace(f"'{binary}'", "ehrdata").replace(binary, "ehrdata")
        if work:
            text = text.replace(work, "$WORK")
        return text

    cmps = read_tsv(os.path.join(results_dir, "cmps.tsv"), 2)
    sides = {}
    for row in read_tsv(os.path.join(results_dir, "sides.tsv"), 7):
        s = Side(row, results_dir, shorten)
        sides.setdefault(s.cmp, []).append(s)
    for cmp, side, run, wall, user, sys_, rss, out, rc in read_tsv(os.path.join(results_dir, "results.tsv"), 9):
        for s in sides.get(cmp, []):
            if s.key == side:
                s.runs.append({"run": int(run), "wall": float(wall), "user": float(user),
                               "sys": float(sys_), "cpu": float(user) + float(sys_),
                               "rss": int(rss) * 1024, "out": int(out) if out else None,
                               "rc": int(rc)})
    notes = {}
    for cmp, text in read_tsv(os.path.join(results_dir, "notes.tsv"), 2):
        notes.setdefault(cmp, []).append(shorten(text))
    mem = read_tsv(os.path.join(results_dir, "mem.tsv"), 4)
    return meta, cmps, sides, notes, mem, shorten


def side_table(sides):
    out = ["| Side | Median wall s (min–max) | Median CPU s (user+sys) | Output size | Peak RSS | B/A wall | B/A CPU |",
           "|------|------------------------:|------------------------:|------------:|---------:|---------:|--------:|"]
    a = next((s for s in sides if s.role == "A"), None)
    a_wall = a.median("wall") if a else None
    a_cpu = a.median("cpu") if a else None
    for s in sides:
        n_ok, n = len(s.ok_runs()), len(s.runs)
        if n == 0:
            out.append(f"| {s.label} | not measured | — | — | — | — | — |")
            continue
        lo, hi = s.spread("wall")
        wall = f"{secs(s.median('wall'))} ({secs(lo)}–{secs(hi)})" if n_ok else "failed"
        if n_ok < n:
            wall += f" [{n - n_ok} of {n} runs failed]"
        cpu = secs(s.median("cpu"))
        size = human_bytes(s.output()) if s.output() else "—"
        rss = human_bytes(s.peak_rss())
        if s.role == "A":
            rw, rc = "(A)", "(A)"
        else:
            rw, rc = ratio_text(s.median("wall"), a_wall), ratio_text(s.median("cpu"), a_cpu)
        out.append(f"| {s.label} | {wall} | {cpu} | {size} | {rss} | {rw} | {rc} |")
    return out


def verdicts(sides):
    a = next((s for s in sides if s.role == "A"), None)
    lines = []
    if a is None or not a.ok_runs():
        return lines
    for b in sides:
        if b.role != "B" or not b.ok_runs():
            continue
        parts = [compare_words(a.median("wall"), b.median("wall"), "wall time"),
                 compare_words(a.median("cpu"), b.median("cpu"), "CPU time")]
        ao, bo = a.output(), b.output()
        if ao and bo:
            r = bo / ao
            if 0.98 <= r <= 1.02:
                parts.append(f"output about the same size ({human_bytes(ao)} vs {human_bytes(bo)})")
            elif r > 1:
                parts.append(f"output {r:.2f}× smaller ({human_bytes(ao)} vs {human_bytes(bo)})")
            else:
                parts.append(f"output {1 / r:.2f}× larger ({human_bytes(ao)} vs {human_bytes(bo)})")
        ar, br = a.peak_rss(), b.peak_rss()
        if ar and br:
            parts.append(f"peak RSS {human_bytes(ar)} vs {human_bytes(br)}")
        lines.append(f"- ehrdata vs {b.label}: " + "; ".join(p for p in parts if p) + ".")
    return lines


def make_chart(path, cmps, sides, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart"
    colors = {"A": "#1f77b4", "B": "#ff7f0e", "B2": "#9e9e9e"}
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    x = 0.0
    group_centers, group_names = [], []
    tick_pos, tick_labels = [], []
    top = 0.0
    drew_any = False
    for cmp, _title in cmps:
        ss = sides.get(cmp, [])
        if not ss or not any(s.runs for s in ss):
            continue
        start = x
        n_anchor = 0
        for s in ss:
            m = s.median("wall")
            if s.role == "A":
                color = colors["A"]
            else:
                color = colors["B"] if n_anchor == 0 else colors["B2"]
                n_anchor += 1
            if m is not None:
                ax.bar(x, m, width=0.8, color=color)
                ax.text(x, m, f"{m:.1f}", ha="center", va="bottom", fontsize=7)
                top = max(top, m)
                drew_any = True
            else:
                ax.text(x, 0, "pending" if not s.runs else "failed", ha="center", va="bottom",
                        fontsize=7, color="#555555", rotation=90)
            tick_pos.append(x)
            tick_labels.append(s.short)
            x += 1
        group_centers.append((start + x - 1) / 2)
        group_names.append(cmp)
        x += 0.8
    if not drew_any:
        plt.close(fig)
        return "no measured run: no chart"
    ax.set_xticks(tick_pos)
    ax.set_xticklabels(tick_labels, fontsize=7, rotation=30, ha="right")
    for cx, name in zip(group_centers, group_names):
        ax.text(cx, top * 1.12, name, ha="center", va="bottom", fontsize=8, fontweight="bold")
    ax.set_ylim(0, top * 1.25 if top > 0 else 1)
    ax.set_ylabel("median wall time (s), lower is better", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=colors["A"], label="ehrdata"),
                       Patch(color=colors["B"], label="anchor"),
                       Patch(color=colors["B2"], label="second anchor")],
              fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False,
              borderaxespad=0.2)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results")
    p.add_argument("--markdown", required=True)
    p.add_argument("--chart", required=True)
    a = p.parse_args()

    meta, cmps, sides, notes, mem, shorten = load(a.results)
    g = meta.get
    chart_rel = os.path.relpath(a.chart, os.path.dirname(os.path.abspath(a.markdown)))
    chart_title = f"ehrdata vs anchors, {g('db_size_h', '?')} SQLite DB, median of {g('runs', '?')} runs, {g('nproc', '?')} cores"
    chart_problem = make_chart(a.chart, cmps, sides, chart_title)

    md = []
    md.append("# Benchmarks")
    md.append("")
    md.append(f"Produced by `{g('command', 'bash scripts/bench')}` on {g('date', '?')}, at commit "
              f"{g('commit', '?')}. Regenerate it with the same command; "
              "[docs/SCRIPTS.md](SCRIPTS.md#benchmarks-scriptsbench) describes the flags.")
    md.append("")
    for t in notes.get("_global", []):
        md.append(f"> {t}")
        md.append("")

    md.append("## Summary")
    md.append("")
    if chart_problem:
        md.append(f"(No chart: {chart_problem}.)")
    else:
        md.append(f"![median wall time per comparison]({chart_rel})")
    md.append("")
    md.append("Each comparison pits ehrdata (side A) against a plain-tools anchor doing the same job "
              "(side B). **B/A** is the anchor's median divided by ehrdata's: above 1 ehrdata is "
              "faster, below 1 it is slower.")
    md.append("")
    md.append("| Comparison | ehrdata median wall s | Anchor | Anchor median wall s | B/A wall | B/A CPU |")
    md.append("|------------|----------------------:|--------|---------------------:|---------:|--------:|")
    for cmp, title in cmps:
        ss = sides.get(cmp, [])
        a_side = next((s for s in ss if s.role == "A"), None)
        a_wall = a_side.median("wall") if a_side else None
        a_cpu = a_side.median("cpu") if a_side else None
        anchors = [s for s in ss if s.role == "B"]
        if not anchors:
            md.append(f"| {cmp} | — | (see below) | — | — | — |")
            continue
        for b in anchors:
            a_txt = secs(a_wall) if a_wall is not None else ("pending" if a_side is None or not a_side.runs else "failed")
            md.append(f"| {cmp} | {a_txt} | {b.label} | {secs(b.median('wall'))} | "
                      f"{ratio_text(b.median('wall'), a_wall)} | {ratio_text(b.median('cpu'), a_cpu)} |")
    md.append("")
    for cmp, title in cmps:
        v = verdicts(sides.get(cmp, []))
        if v:
            md.append(f"**{cmp}**")
            md.append("")
            md.extend(v)
            md.append("")

    md.append("## Setup")
    md.append("")
    md.append(f"- **Machine**: {g('cpu', '?')}, {g('nproc', '?')} cores (nproc), {g('mem', '?')} memory; "
              f"kernel {g('kernel', '?')}.")
    md.append(f"- **Work directory** `{g('work_dir', '?')}`: `{g('df', '?')}` (df -h: size, used, available, mount).")
    md.append(f"- **Disk throughput** (dd, 1 MiB blocks, bypassing the page cache): write {g('dd_write', '?')} "
              f"(`{g('dd_write_cmd', '?')}`), read {g('dd_read', '?')} (`{g('dd_read_cmd', '?')}`).")
    md.append(f"- **Load**: load average (1, 5, 15 min) {g('loadavg', '?')} before the runs, "
              f"{g('loadavg_after', '?')} after. The machine may be shared "
              "(other builds), so absolute numbers are noisy; A and B alternate run by run so that "
              "drifting load hits both sides alike.")
    md.append(f"- **Database**: `{shorten(g('db_path', '?'))}`, {g('db_size_h', '?')} ({g('db_size', '?')} bytes), "
              f"made by `{g('db_gen_cmd', '?')}`; journal mode {g('db_journal', '?')}, page size {g('db_page_size', '?')}. "
              f"Rows: {g('db_rows', '?')}.")
    md.append(f"- **Cache state: {g('cache', '?')}**: {g('cache_detail', '')}.")
    md.append("")
    md.append("| Tool | Version |")
    md.append("|------|---------|")
    for key in sorted(k for k in meta if k.startswith("v_")):
        md.append(f"| {key[2:]} | {meta[key]} |")
    md.append("")
    md.append("### Method")
    md.append("")
    md.append(f"- {g('runs', '?')} timed runs per side, alternating (A1 B1 A2 B2 …; with two anchors "
              "A1 B1 C1 A2 …). The tables show medians; min–max shows the spread of wall time.")
    md.append("- Every run starts from a clean target: its previous output is deleted, ehrdata gets a "
              "fresh archive (`ehrdata init --config … --archive …`, then a config pointing at the "
              "database), restic a freshly initialised repository, PostgreSQL restores an empty "
              "database. That preparation, and a `sync` that flushes the previous run's dirty pages, "
              "happen before the clock starts.")
    md.append("- Each run is one `bash CMDFILE` under `/usr/bin/time -f '%e %U %S %M'`: wall seconds, "
              "user and system CPU seconds of the whole process tree (CPU column = user+sys), and "
              "max RSS, which is the peak of the *largest single process* in the tree (not a sum). "
              "For PostgreSQL the server's own CPU and memory are not included on either side.")
    md.append("- Output size is `du -sb` of what the run wrote (apparent bytes; for ehrdata the "
              "whole new archive: data file, manifest and marker).")
    md.append("- Durability is matched: ehrdata fsyncs what it writes, so the anchors end with "
              "`sync FILE` (coreutils, fsyncs that file) where their tool does not sync by itself "
              "(pg_dump and restic do).")
    md.append("")

    for cmp, title in cmps:
        ss = sides.get(cmp, [])
        md.append(f"## {cmp}: {title}")
        md.append("")
        for s in ss:
            who = "A" if s.role == "A" else "B"
            md.append(f"- **{who}, {s.label}**: {s.desc}")
            if s.command:
                md.append("")
                md.append("  ```sh")
                md.extend("  " + ln for ln in s.command.splitlines())
                md.append("  ```")
        if ss:
            md.append("")
        for t in notes.get(cmp, []):
            md.append(f"> {t}")
            md.append("")
        if any(s.runs for s in ss):
            md.extend(side_table(ss))
            md.append("")

    md.append("## Peak memory at two database sizes")
    md.append("")
    if mem:
        md.append("Max RSS of one `ehrdata backup` and one `ehrdata restore` (fresh archive, warm cache) "
                  "on two sizes of the same generated database. Streaming with bounded buffers means "
                  "it must not grow with the database.")
        md.append("")
        md.append("| Database | Size | backup peak RSS | restore peak RSS |")
        md.append("|----------|-----:|----------------:|-----------------:|")
        for label, size, brss, rrss in mem:
            b = human_bytes(int(brss) * 1024) if brss else "—"
            r = human_bytes(int(rrss) * 1024) if rrss else "—"
            md.append(f"| {label} | {human_bytes(int(size))} | {b} | {r} |")
        md.append("")
    for t in notes.get("mem", []):
        md.append(f"> {t}")
        md.append("")
    if not mem and not notes.get("mem"):
        md.append("Not run.")
        md.append("")

    md.append("## Every run")
    md.append("")
    md.append("<details><summary>Raw numbers of each timed run</summary>")
    md.append("")
    md.append("| Comparison | Side | Run | Wall s | User s | Sys s | CPU s | Max RSS | Output bytes | Exit |")
    md.append("|------------|------|----:|-------:|-------:|------:|------:|--------:|-------------:|-----:|")
    for cmp, _ in cmps:
        rows = []
        for s in sides.get(cmp, []):
            for r in s.runs:
                rows.append((r["run"], s, r))
        order = {s.key: i for i, s in enumerate(sides.get(cmp, []))}
        rows.sort(key=lambda t: (t[0], order[t[1].key]))
        for run, s, r in rows:
            md.append(f"| {cmp} | {s.label} | {run} | {r['wall']:.2f} | {r['user']:.2f} | {r['sys']:.2f} | "
                      f"{r['cpu']:.2f} | {human_bytes(r['rss'])} | {r['out'] if r['out'] is not None else '—'} | {r['rc']} |")
    md.append("")
    md.append("</details>")
    md.append("")

    with open(a.markdown, "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    print(f"bench_report: wrote {a.markdown}" + ("" if chart_problem else f" and {a.chart}"))
    if chart_problem:
        print(f"bench_report: {chart_problem}", file=sys.stderr)


if __name__ == "__main__":
    main()
