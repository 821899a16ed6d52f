"""The benchmark report as markdown: one row per figure, the target and whether it is met."""

from __future__ import annotations


def fig(d: dict, digits: int = 0) -> str:
    f = f"{{:,.{digits}f}}"
    return f"{f.format(d['median'])} ({f.format(d['min'])}–{f.format(d['max'])})"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def labeling_rows(res: dict) -> list[str]:
    rows = []
    if a := res.get("a_in_process"):
        rows.append(f"| (a) in-process paragraphs/s, {a['paragraphs']:,} paragraphs, batches of 256 | {fig(a['mihwar'])} | "
                    f"fastText {fig(a['fasttext'])} | {fig(a['ratio'], 2)} | — | — |")
    if a := res.get("a_process"):
        r = a["ratio"]["median"]
        rows.append(f"| (a) whole `mihwar predict` process, paragraphs/s, {a['paragraphs']:,}-row JSONL ({a['input_mb']} MB) | "
                    f"{fig(a['mihwar'])} | fastText {fig(a['fasttext'])} | {fig(a['ratio'], 2)} | ≥ 2x (floor 1x) | "
                    f"{verdict(r >= 2)}{' (floor met)' if 1 <= r < 2 else ''} |")
    if b := res.get("b_cold_start"):
        rows.append(f"| (b) cold one-article `mihwar predict`, ms | {fig(b['mihwar'])} | `import sklearn` {fig(b['import_sklearn'])}; "
                    f"bare `python` {fig(b['python'])} | {fig(b['ratio'], 2)} | ≤ 0.6x | {verdict(b['ratio']['median'] <= 0.6)} |")
        if "mihwar_default" in b:  # runs from before it was measured have no such row
            rows.append(f"| (b) the same without `--model` (labels with {b['default_model']}), ms | {fig(b['mihwar_default'])} | "
                        f"`import sklearn` (above) | {fig(b['default_ratio'], 2)} | ≤ 0.6x | "
                        f"{verdict(b['default_ratio']['median'] <= 0.6)} |")
    if c := res.get("c_peak_rss"):
        mbs = {k: v["peak_rss_mb"] for k, v in c.items()}
        flat = max(mbs.values()) - min(mbs.values()) < 0.1 * min(mbs.values()) if len(mbs) > 1 else None
        cells = "; ".join(f"{int(k):,}: {v:.0f} MB" + (f" (measured {c[k]['measured']})" if c[k].get("measured") else "")
                          for k, v in mbs.items())
        ok = max(mbs.values()) < 300 and flat is not False and "1000000" in mbs
        note = "" if "1000000" in mbs else " (1M not measured: --rss-1m)"
        rows.append(f"| (c) peak RSS of `mihwar predict`, streamed JSONL | {cells} | — | "
                    f"{'flat' if flat else ('grows' if flat is False else '—')} | < 300 MB, flat | {verdict(ok)}{note} |")
    return rows


def training_rows(res: dict) -> list[str]:
    rows = []
    for scale, e in (res.get("e_training") or {}).items():
        target = "< 60 s" if scale == "100x" else "—"
        met = verdict(e["fit_seconds"]["median"] < 60) if scale == "100x" else "—"
        rows.append(f"| (e) training {scale} ({e['rows']:,} paragraphs), fit s; peak RSS MB | {fig(e['fit_seconds'], 1)} s; "
                    f"{fig(e['peak_rss_mb'])} MB | — | — | {target} | {met} |")
    if f := res.get("f_cv_f1"):
        m, ft = f["mihwar"], f["fasttext"]
        rows.append(f"| (f) grouped-CV macro-F1, {f['folds']} folds (median over folds; pooled) | {fig(m, 3)}; pooled {m['pooled']:.3f} | "
                    f"fastText {fig(ft, 3)}; pooled {ft['pooled']:.3f} | {m['pooled'] - ft['pooled']:+.3f} | ≥ fastText | "
                    f"{verdict(m['pooled'] >= ft['pooled'])} |")
    return rows


def render(res: dict) -> str:
    m = res["machine"]
    lines = [f"# mihwar benchmarks — {m['date']}, commit {m['commit']}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']:,} MB RAM; Python {m['python']}; model `{res['model']}`"
             + (f"; (e) and (f) fit with `{'`, `'.join(res['config_overrides'])}`" if res.get("config_overrides") else "")
             + ". "
             f"Load average (1/5/15 min) {res['load_average_start']} at start, {res['load_average_end']} at end: "
             "other jobs shared the machine, so timings are noisy. Figures: median (min–max) of "
             f"{res['runs']} runs unless said; ratio = mihwar / alternative.", "",
             "| measure | mihwar | alternative | ratio | target | |", "|---|---|---|---|---|---|",
             *labeling_rows(res), *training_rows(res)]
    if b := res.get("b_cold_start"):
        top = ", ".join(f"{k} {v:.0f} ms" for k, v in b["imports"]["top_level_ms"].items())
        lines += ["", f"Imports of the one-article run (`python -X importtime`, cumulative, top level): {top}; "
                      f"heavy packages loaded: {', '.join(b['imports']['heavy_loaded']) or 'none'}."]
    if res.get("d_server"):
        lines += ["", "(d) server, `benchmarks/bench_server.py` output:", "", "```", res["d_server"], "```"]
    return "\n".join(lines) + "\n"
