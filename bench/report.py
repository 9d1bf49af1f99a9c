#!/usr/bin/env python3
"""Charts and a Markdown summary for one or more clientops-bench result files.

    bench/report.py RESULT.json [RESULT.json ...]

For each RESULT.json writes, next to it:
  RESULT-latency-cdf.png   apply -> working Secret, CDF, clientops vs ideal, per N
  RESULT-ready.png         Ready count over time, clientops vs ideal, per N
  RESULT.md                the summary table
and prints the Markdown to stdout.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401


def fmt(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{v:.0f}"
    return str(v)


def cdf(ax, values, label, style):
    v = sorted(values)
    if not v:
        return
    n = len(v)
    ax.plot(v, [(i + 1) / n for i in range(n)], style, label=label)


def charts(doc, base):
    runs = doc["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.2), squeeze=False)
    for ax, run in zip(axes[0], runs):
        n = run["n"]
        if run.get("ideal"):
            cdf(ax, run["ideal"]["latencies_ms"], "ideal", "C0-")
        if run.get("ideal_safe"):
            cdf(ax, run["ideal_safe"]["latencies_ms"], "ideal-safe", "C2-")
        cdf(ax, run["clientops"]["latencies_ms"], "clientops", "C1-")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("apply → Secret with working credentials (ms, log)")
        ax.set_ylabel("fraction of clients")
        ax.set_title(f"N = {n}")
        ax.axhline(0.99, color="grey", lw=0.5, ls=":")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(f"Latency CDF ({doc.get('label', '')}, {doc['started_at'][:16]})")
    fig.tight_layout()
    fig.savefig(base + "-latency-cdf.png", dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.2), squeeze=False)
    for ax, run in zip(axes[0], runs):
        n = run["n"]
        for who, style in (("ideal", "C0-"), ("ideal_safe", "C2-"), ("clientops", "C1-")):
            r = run.get(who)
            if not r:
                continue
            t = r["ready_times_s"]
            ax.step([0] + t, list(range(len(t) + 1)), style, where="post", label=who)
        ax.set_xlabel("seconds since the first apply")
        ax.set_ylabel("OAuthClients Ready")
        ax.set_title(f"N = {n}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(f"Ready count over time ({doc.get('label', '')}, {doc['started_at'][:16]})")
    fig.tight_layout()
    fig.savefig(base + "-ready.png", dpi=100)
    plt.close(fig)


def ratio_cell(ratio, safe, key):
    """clientops over the ideal, and over the ideal with crash safety if measured."""
    cell = fmt(ratio.get(key))
    if safe.get(key) is not None:
        cell += f" ({fmt(safe.get(key))} vs safe)"
    return cell


def per_client(run, op):
    return run.get("provider_requests_per_client", {}).get(op)


def summary(doc):
    s = doc["settings"]
    lines = [
        f"### {doc.get('label') or 'run'} — {doc['started_at'][:19]}Z, commit {doc['git']['commit']}"
        + (" (dirty)" if doc["git"]["dirty"] else ""),
        "",
        f"{doc['machine']['nproc']} CPUs; provider {s.get('provider', 'cloudflare')}; workers {s['workers']}; resync {s['resync_s']}s; "
        f"emulator rate limit {s['emulator_rate_limit']}; load at end {doc['machine']['load_at_end']}.",
        "",
        "| N | who | all Ready (s) | clients/s | p50 / p95 / p99 apply→Secret (ms) | time ratio (vs ideal-safe) | p99 ratio (vs ideal-safe) "
        "| provider req/client | apiserver req/client | peak RSS (MiB) | CPU (s) | creds valid | load (1m, start→end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in doc["runs"]:
        ratio = run.get("clientops_over_ideal", {})
        safe = run.get("clientops_over_ideal_safe") or {}
        for who in ("ideal", "ideal_safe", "clientops"):
            r = run.get(who)
            if not r:
                continue
            lat = r["latency_ms"] or {}
            prov = sum(r.get("provider_requests_per_client", {}).values())
            ctl = r.get("controller") or {}
            lines.append(
                f"| {run['n']} | {who.replace('_', '-')} | {fmt(r['all_ready_s'])} | {fmt(r['clients_per_s'], 1)} "
                f"| {fmt(lat.get('p50'), 0)} / {fmt(lat.get('p95'), 0)} / {fmt(lat.get('p99'), 0)} "
                f"| {ratio_cell(ratio, safe, 'time') if who == 'clientops' else ''} "
                f"| {ratio_cell(ratio, safe, 'p99') if who == 'clientops' else ''} "
                f"| {fmt(prov, 3)} | {fmt(r['apiserver_requests_per_client'])} "
                f"| {fmt(ctl.get('peak_rss_mib'), 1)} | {fmt(ctl.get('cpu_s'))} "
                f"| {r['verified']['valid']}/{r['verified']['checked']} "
                f"| {r['load_before'].split()[0]}→{r['load_after'].split()[0]} |"
            )
    lines += [
        "",
        "| N | steady: provider requests per period (LIST per period) | steady: 429s | steady: apiserver req/period "
        "| rotation: all rotated (s) | rotation p50 / p99 (ms) | rotation provider req/client | rotation creds valid "
        "| reconciles (ok / error) | peak RSS whole run (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in doc["runs"]:
        r = run["clientops"]
        st = r.get("steady") or {}
        api = [p["apiserver_requests"] for p in st.get("periods", [])]
        rot = r.get("rotation") or {}
        rl = rot.get("latency_ms") or {}
        rot_reqs = sum(sum(v.values()) for v in rot.get("provider_requests", {}).values())
        rec = r.get("reconciles", {})
        lines.append(
            f"| {run['n']} | {fmt(st.get('provider_requests_per_period'))} ({fmt(st.get('list_per_period'))}) "
            f"| {st.get('provider_429', '–')} | {fmt(sum(api) / len(api) if api else None, 0)} "
            f"| {fmt(rot.get('all_rotated_s'))} | {fmt(rl.get('p50'), 0)} / {fmt(rl.get('p99'), 0)} "
            f"| {fmt(rot_reqs / run['n'] if rot else None, 3)} "
            f"| {rot.get('verified', {}).get('valid', '–')}/{rot.get('verified', {}).get('checked', '–')} "
            f"| {fmt(rec.get('success'), 0)} / {fmt(rec.get('error'), 0)} "
            f"| {fmt(r.get('controller_total', {}).get('peak_rss_mib'), 1)} |"
        )
    rl = doc.get("rate_limited")
    if rl:
        st = rl.get("steady") or {}
        lines += [
            "",
            f"Rate-limited emulator ({rl['limit']}, the provider's `rateLimit` set to match), N={rl['n']}: "
            f"all Ready in {fmt(rl['all_ready_s'])}s (least the limit allows: {fmt(rl['min_time_at_limit_s'])}s), "
            f"{rl['provider_429']} × 429 during creation, "
            f"{sum(sum(v.values()) for v in rl['provider_requests'].values())} provider requests, "
            f"stalled {rl['stalled']}, reconcile errors {fmt(rl.get('reconciles', {}).get('error', 0), 0)}; "
            f"steady state: {fmt(st.get('list_per_period'))} LIST per period, {st.get('provider_429')} × 429.",
        ]
    return "\n".join(lines) + "\n"


def main():
    for path in sys.argv[1:]:
        with open(path) as f:
            doc = json.load(f)
        base = os.path.splitext(path)[0]
        charts(doc, base)
        md = summary(doc)
        with open(base + ".md", "w") as f:
            f.write(md)
        print(md)


if __name__ == "__main__":
    main()
