"""5,000 sources on one or two `monitor run` hosts sharing one PostgreSQL: poll lag, CPU, memory, takeover.

    python bench/bench_hosts.py --hosts 1                 # one host alone (full scale, ~35 min)
    python bench/bench_hosts.py --hosts 2                 # two hosts (MONITOR_HOST_ID host-a, host-b), same sources
    python bench/bench_hosts.py --takeover                # two hosts, SIGKILL host-a, time until the survivor has all
    python bench/bench_hosts.py --quick                   # 100 sources, 20 s interval: a smoke run in < 60 s

What runs: a throwaway PostgreSQL 15 cluster (tests/support/postgres.py), the loopback web of hosts_site.py
(4,000 feeds and 1,000 Telegram channel previews, each on its own 127.77.x.y address, 200 ms before every
response), one `monitor run --once` to fill the state (not measured: screenshots off), then the service
`monitor run` per host, each with its own state folder and `MONITOR_HOST_ID`, all on the same database, for
`--window` seconds while the site publishes `--new-fraction` of its items per interval.

What is measured (see bench/README.md, "5,000 sources on one or two hosts"):
* poll lag: for every poll after a source's first one in the window, how late it started after it was due
  (due = that source's previous poll + its interval), from the site's own log of arrivals; a source still
  waiting at the end counts with the lag it has so far. p50 / p99 / max.
* CPU: user+sys of each host's whole process tree (/proc), over the window, as % of 2 cores.
* memory: the peak of each host's summed PSS (whole tree, sampled every 0.5 s; the target is held against it:
  RSS counts the pages Chromium's processes share once per process) and of its summed RSS.
* takeover: SIGKILL of host-a's process group once every source was polled; for every source, how late its
  first poll after the kill was (against max(kill, its due time)); the worst is the takeover time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MB = 1024 * 1024
TARGETS = {"lag_p99": 60.0, "cpu_percent": 50.0, "peak_mb": 600.0}
CORES = 2  # the targets are "% of 2 cores", whatever this machine has


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_RUN = None


def _run_module():
    """bench/run.py, for its /proc readers (loaded once)."""
    global _RUN
    if _RUN is None:
        _RUN = _load("run")
    return _RUN


# --- the figures (pure) ---------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def poll_lags(polls: list[tuple[float, int]], sources: int, interval: float, start: float, end: float) -> dict:
    """Lag of every poll after a source's first in [start, end]: max(0, gap - interval); plus, per source still
    waiting at `end` past its due time, the lag so far. Gaps under half the interval are a source polled twice
    (two hosts each polling it), counted apart."""
    by_source: dict[int, list[float]] = {}
    for t, s in polls:
        if start <= t <= end:
            by_source.setdefault(s, []).append(t)
    lags, waiting, double = [], [], 0
    for times in by_source.values():
        times.sort()
        for a, b in zip(times, times[1:]):
            if b - a < interval / 2:
                double += 1
                continue
            lags.append(max(0.0, b - a - interval))
        if end - times[-1] > interval:
            waiting.append(end - times[-1] - interval)
    everything = lags + waiting
    n_polls = sum(len(t) for t in by_source.values())
    return {"polls": n_polls, "sources_polled": len(by_source), "sources_never_polled": sources - len(by_source),
            "lags_measured": len(lags), "still_waiting_at_end": len(waiting), "double_polls": double,
            "polls_per_source_per_interval": n_polls / sources / ((end - start) / interval) if sources else 0.0,
            "p50": _pct(everything, 0.50), "p99": _pct(everything, 0.99), "max": max(everything, default=0.0)}


def first_round(polls: list[tuple[float, int]], sources: int, start: float) -> dict:
    """When the service had polled every source once: all are due at its start (the scheduler spreads them over
    a minute at most), so this is how long it needs for 5,000 polls due at once."""
    first: dict[int, float] = {}
    for t, s in polls:
        if t >= start and (s not in first or t < first[s]):
            first[s] = t
    done = len(first) == sources
    return {"first_poll_after_s": min(first.values()) - start if first else None,
            "all_polled_after_s": max(first.values()) - start if done else None,
            "span_s": max(first.values()) - min(first.values()) if done else None}


def takeover_times(polls: list[tuple[float, int]], sources: int, interval: float, kill: float, end: float) -> dict:
    """Per source: its first poll after the kill, against when it was due (its last poll before + interval, but
    not before the kill). The worst lateness is the takeover time; a source not polled again by `end` counts
    with its lateness so far."""
    before: dict[int, float] = {}
    after: dict[int, float] = {}
    for t, s in polls:
        if t < kill:
            before[s] = max(before.get(s, t), t)
        elif s not in after or t < after[s]:
            after[s] = t
    late, missing = [], 0
    for s in range(sources):
        due = max(kill, before[s] + interval) if s in before else kill
        if s in after:
            late.append(max(0.0, after[s] - due))
        else:
            missing += 1
            late.append(max(0.0, end - due))
    return {"takeover_s": max(late, default=0.0), "late_p99": _pct(late, 0.99), "not_polled_again": missing,
            "all_polled_again_after_s": (max(after.values()) - kill) if len(after) == sources else None}


# --- processes ----------------------------------------------------------------------------------------------


BROWSERS = ("chrom", "headless")  # the screenshots' Chromium (evidence/screenshot.py), shown apart


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


class Tree(threading.Thread):
    """CPU (user+sys, every process of the tree, dead ones at their last sample) and peak RSS/PSS of a tree."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.cpu: dict[int, float] = {}
        self.base = 0.0
        self.peak_rss = self.peak_pss = self.peak_rss_no_browser = self.peak_pss_no_browser = 0
        self.peak_by_name: dict[str, int] = {}  # RSS per process name at the peak
        self.peak_pss_by_name: dict[str, int] = {}  # PSS per process name at the PSS peak
        self.stop_event = threading.Event()
        self.run_mod = _run_module()

    def cpu_total(self) -> float:
        return sum(self.cpu.values()) - self.base

    def run(self) -> None:
        while not self.stop_event.is_set():
            rss = pss = 0
            by_name: dict[str, int] = {}
            pss_by_name: dict[str, int] = {}
            for pid in self.run_mod._tree(self.pid):
                got = self.run_mod._proc_sample(pid)
                if got:
                    rss, pss = rss + got[0], pss + got[1]
                    self.cpu[pid] = got[2]
                    name = _comm(pid)
                    by_name[name] = by_name.get(name, 0) + got[0]
                    pss_by_name[name] = pss_by_name.get(name, 0) + got[1]
            if rss > self.peak_rss:
                self.peak_by_name = by_name
            if pss > self.peak_pss:
                self.peak_pss_by_name = pss_by_name
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            browser = sum(v for k, v in by_name.items() if k.startswith(BROWSERS))
            self.peak_rss_no_browser = max(self.peak_rss_no_browser, rss - browser)
            browser_pss = sum(v for k, v in pss_by_name.items() if k.startswith(BROWSERS))
            self.peak_pss_no_browser = max(self.peak_pss_no_browser, pss - browser_pss)
            self.stop_event.wait(self.every)


class Host:
    def __init__(self, name: str, cmd: list[str], env: dict, workdir: Path):
        self.name = name
        self.out = open(workdir / f"{name}.stderr", "wb")
        self.proc = subprocess.Popen(cmd, env={**env, "MONITOR_HOST_ID": name}, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        self.tree = Tree(self.proc.pid)
        self.tree.start()
        self.started = time.time()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self, grace: float = 90) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        try:  # extraction workers or a browser left behind by a killed host
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.tree.stop_event.set()
        self.tree.join(5)
        self.out.close()
        return self.proc.returncode

    def figures(self, wall: float) -> dict:
        cpu = self.tree.cpu_total()
        return {"exit": self.proc.returncode, "cpu_s": cpu, "cpu_percent_of_2_cores": 100 * cpu / wall / CORES,
                "peak_rss_mb": self.tree.peak_rss / MB, "peak_pss_mb": self.tree.peak_pss / MB,
                "peak_rss_without_browser_mb": self.tree.peak_rss_no_browser / MB,
                "peak_rss_by_name_mb": {k: round(v / MB, 1) for k, v in self.tree.peak_by_name.items()},
                "peak_pss_without_browser_mb": self.tree.peak_pss_no_browser / MB,
                "peak_pss_by_name_mb": {k: round(v / MB, 1) for k, v in self.tree.peak_pss_by_name.items()}}


class SiteProcess:
    def __init__(self, args, log: Path):
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "hosts_site.py"), "--feeds", str(args.feeds), "--channels",
             str(args.channels), "--items", str(args.items), "--posts", str(args.posts), "--delay", str(args.delay),
             "--port", str(args.site_port)],
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench/hosts_site.py did not start; see {log}")
        self.info = json.loads(line)
        self.next = 0
        self.polls: list[tuple[float, int]] = []

    def call(self, cmd: str) -> dict:
        with urllib.request.urlopen(f"{self.info['control']}/{cmd}", timeout=60) as r:
            return json.load(r)

    def fetch_polls(self) -> list[tuple[float, int]]:
        got = self.call(f"polls?since={self.next}")
        self.next = got["next"]
        self.polls += [(t, s) for t, s in got["polls"]]
        return self.polls

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def supports_leases(python: str) -> bool:
    """Whether this checkout knows `lease_ttl:` (issue 25a); before it, the setting would be refused."""
    code = "from monitor.config.feeds import Settings; print('lease_ttl' in Settings.model_fields)"
    out = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() == "True"


def write_feeds(path: Path, sources: list[dict], interval: float, settings: dict) -> None:
    lines = ["# written by bench/bench_hosts.py", "feeds:"]
    for s in sources:
        lines.append(f"  - name: {s['name']}\n    url: {s['url']}\n    kind: {s['kind']}\n"
                     f"    interval: {interval:g}s\n    language: en")
    if settings:
        lines.append("settings:")
        lines += [f"  {k}: {v}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- the run ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, choices=(1, 2), default=1)
    ap.add_argument("--takeover", action="store_true", help="two hosts; SIGKILL host-a once every source was polled")
    ap.add_argument("--quick", action="store_true", help="100 sources, 20 s interval, 40 s window: a smoke run")
    ap.add_argument("--feeds", type=int, default=4000)
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--items", type=int, default=2, help="items per feed (default 2: the first cycle, which fills "
                    "the state and is not measured, fetches every page; later polls fetch only new ones)")
    ap.add_argument("--posts", type=int, default=20, help="posts per channel preview")
    ap.add_argument("--delay", type=float, default=0.2, help="seconds before every response (default 0.2)")
    ap.add_argument("--interval", type=float, default=900, help="every source's interval, seconds (default 900)")
    ap.add_argument("--window", type=float, help="seconds the services run (default: 1.2 x interval + 60; "
                    "with --takeover until every source was polled after the kill, at most 2 x interval + ttl)")
    ap.add_argument("--new-fraction", type=float, default=0.01,
                    help="share of the listed items and posts published anew per interval (default 0.01)")
    ap.add_argument("--lease-ttl", default="120s", help="settings.lease_ttl, when the monitor knows it (25a)")
    ap.add_argument("--screenshots", choices=("default", "on", "off"), default="default",
                    help="settings.screenshots for the services (default: the monitor's default)")
    ap.add_argument("--save-state", metavar="DUMP", help="pg_dump the filled state here (to skip filling next time)")
    ap.add_argument("--state-from", metavar="DUMP", help="restore this dump instead of filling the state (with the "
                    "same --site-port, --feeds, --channels, --items, --posts and --new-fraction as when it was made)")
    ap.add_argument("--skip-advances", type=int, default=0, metavar="K", help="with --state-from: publish the K "
                    "steps the state had already seen before the hosts start")
    ap.add_argument("--site-port", type=int, default=0, help="the site's port (feed URLs include it; 0: any)")
    ap.add_argument("--keywords", default=str(ROOT / "keywords.yaml"))
    ap.add_argument("--python", default=sys.executable, help="Python with the monitor installed")
    ap.add_argument("--workdir", help="keep configs, states' folders and every log here (default: a temp dir)")
    ap.add_argument("--json", help="write the figures here (default bench/results/hosts-<time>.json)")
    args = ap.parse_args(argv)
    if args.takeover:
        args.hosts = 2
    if args.quick:
        args.feeds, args.channels, args.items, args.posts, args.interval = 80, 20, 2, 10, 20.0
        args.window = args.window or (45.0 if args.takeover else 30.0)
        args.lease_ttl = "10s"
    if args.window is None and not args.takeover:
        args.window = 1.2 * args.interval + 60
    return args


def _stop_on_sigterm(*_: object) -> None:
    raise SystemExit(143)  # so the cluster, the site and the hosts are stopped on the way out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import Cluster, server_bin

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="pamir-hosts-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    results: dict = {"started": started.isoformat(timespec="seconds"), "params": vars(args),
                     "load_before": os.getloadavg()}
    log = lambda msg: print(f"[hosts {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    cluster = Cluster(server_bin(), durable=True)
    site = None
    try:
        site = SiteProcess(args, workdir / "site.log")
        results.update(_run(args, cluster, site, workdir, log))
    finally:
        if site:
            site.stop()
        cluster.stop()
    results["load_after"] = os.getloadavg()
    json_path = Path(args.json) if args.json else BENCH / "results" / f"hosts-{started:%Y%m%d-%H%M%S}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(render(args, results))
    log(f"figures in {json_path}; logs in {workdir}")
    return 0 if all(h["exit"] in (0, -9) for h in results["hosts"].values()) else 1


def _run(args, cluster, site: SiteProcess, workdir: Path, log) -> dict:
    sources = site.info["sources"]
    settings: dict = {}
    leases = supports_leases(args.python)
    if leases:
        settings["lease_ttl"] = args.lease_ttl
    if args.screenshots != "default":
        settings["screenshots"] = "true" if args.screenshots == "on" else "false"
    feeds_yaml = workdir / "feeds.yaml"
    write_feeds(feeds_yaml, sources, args.interval, settings)
    url = cluster.new_database("hosts")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "TELEGRAM_"))}
    env["PYTHONPATH"] = str(ROOT)

    def cmd(host: str, *extra: str) -> list[str]:
        (workdir / host).mkdir(exist_ok=True)
        return [args.python, "-m", "monitor", "run", *extra, "--feeds", str(feeds_yaml), "--keywords",
                args.keywords, "--state", str(workdir / host / "monitor.db"), "--database-url", url]

    out: dict = {"sources": len(sources), "feeds": args.feeds, "channels": args.channels, "leases": leases}
    log(f"{len(sources)} sources on port {site.info['port']}; " + (f"restoring {args.state_from}" if args.state_from
        else "filling the state with one `run --once` (screenshots off, no delay, 2 KB pages)") + f"; workdir {workdir}")
    t0 = time.time()
    if args.state_from:  # a state filled by an earlier run (--save-state), and the site as far as it was then
        subprocess.run([str(cluster.bindir / "pg_restore"), "--no-owner", "-d", url, args.state_from], check=True,
                       capture_output=True)
        for _ in range(args.skip_advances):
            site.call(f"advance?fraction={args.new_fraction / 20}")
        out["warmup"] = {"wall_s": time.time() - t0, "exit": 0, "restored_from": args.state_from}
    else:
        site.call("warmup?on=1")
        with open(workdir / "warmup.stderr", "wb") as err:
            warm = subprocess.run(cmd("warmup", "--once"), cwd=ROOT, stdout=err, stderr=subprocess.STDOUT,
                                  env={**env, "MONITOR_SCREENSHOTS": "0",
                                       "MONITOR_DIGEST_FILE": str(workdir / "warmup.digest")})
        site.call("warmup?on=0")
        out["warmup"] = {"wall_s": time.time() - t0, "exit": warm.returncode, "site": site.call("reset")}
        if args.save_state:
            subprocess.run([str(cluster.bindir / "pg_dump"), "-Fc", "-f", args.save_state, url], check=True)
    log(f"state ready in {out['warmup']['wall_s']:.0f} s (exit {out['warmup']['exit']}); starting {args.hosts} host(s)")
    pg = Tree(int((cluster.data / "postmaster.pid").read_text().split()[0]))
    pg.start()
    time.sleep(1.5)
    pg.base = sum(pg.cpu.values())
    names = ["host-a", "host-b"][:args.hosts]
    start = time.time()
    hosts = {n: Host(n, cmd(n), {**env, "MONITOR_DIGEST_FILE": str(workdir / f"{n}.digest")}, workdir)
             for n in names}
    per_step = args.interval / 20  # the site publishes in 20 steps per interval
    next_publish, kill_at, end = start + per_step, None, start + (args.window or 0)
    if args.takeover:
        end = start + (args.window or 2 * args.interval + _seconds(args.lease_ttl) + 60)
    published, loads = 0, []
    try:
        while time.time() < end:
            time.sleep(min(1.0, max(0.0, end - time.time())))
            now = time.time()
            loads.append(os.getloadavg()[0])
            if now >= next_publish:
                got = site.call(f"advance?fraction={args.new_fraction / 20}")
                published += got.get("new_items", 0) + got.get("new_posts", 0)
                next_publish += per_step
            if any(h.proc.poll() is not None for n, h in hosts.items() if n != "host-a" or kill_at is None):
                log("a host exited early: see its .stderr")
                break
            if args.takeover:
                polls = site.fetch_polls()
                seen = {s for t, s in polls if t >= start}
                if kill_at is None and len(seen) == len(sources) and now - start > args.interval / 2:
                    kill_at = time.time()
                    hosts["host-a"].kill()
                    out["killed_host_a_after_s"] = kill_at - start
                    log(f"every source polled; SIGKILL host-a at +{kill_at - start:.0f} s")
                elif kill_at is not None and {s for t, s in polls if t >= kill_at} == seen and \
                        now - kill_at > _seconds(args.lease_ttl) + 5:
                    break
    except BaseException:
        for h in hosts.values():
            h.stop(grace=10)
        raise
    stop = time.time()
    wall = stop - start
    out["window_s"] = wall
    out["published_items"] = published
    out["load_during"] = sum(loads) / len(loads) if loads else os.getloadavg()[0]
    for h in hosts.values():
        h.stop()
    pg.stop_event.set()
    polls = site.fetch_polls()
    (workdir / "polls.json").write_text(json.dumps({"start": start, "stop": stop, "kill": kill_at, "polls": polls}))
    out["first_round"] = first_round(polls, len(sources), start)
    out["hosts"] = {n: h.figures((kill_at or stop) - start if n == "host-a" and kill_at else wall)
                    for n, h in hosts.items()}
    out["postgresql"] = {"cpu_s": pg.cpu_total(), "cpu_percent_of_2_cores": 100 * pg.cpu_total() / wall / CORES,
                         "peak_rss_mb": pg.peak_rss / MB}
    out["site"] = site.call("stats")
    out["lag"] = poll_lags(polls, len(sources), args.interval, start, stop if not kill_at else kill_at)
    if kill_at:
        out["after_kill"] = takeover_times(polls, len(sources), args.interval, kill_at, stop)
        out["lag_after_kill"] = poll_lags(polls, len(sources), args.interval, kill_at, stop)
    return out


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


def verdicts(args, r: dict) -> list[tuple[str, bool, str]]:
    out = [("poll lag p99 <= 60 s", r["lag"]["p99"] <= TARGETS["lag_p99"], f"{r['lag']['p99']:.1f} s")]
    for n, h in r["hosts"].items():
        out.append((f"{n} CPU <= 50% of 2 cores", h["cpu_percent_of_2_cores"] <= TARGETS["cpu_percent"],
                    f"{h['cpu_percent_of_2_cores']:.1f}%"))
        out.append((f"{n} peak memory < 600 MB (summed PSS)", h["peak_pss_mb"] < TARGETS["peak_mb"],
                    f"{h['peak_pss_mb']:.0f} MB PSS ({h['peak_rss_mb']:.0f} MB RSS)"))
    if args.hosts == 2:
        out.append(("no source polled twice by two hosts", r["lag"]["double_polls"] == 0,
                    f"{r['lag']['double_polls']} double polls"))
    if "after_kill" in r:
        limit = _seconds(args.lease_ttl) + 30
        k = r["after_kill"]
        out.append((f"takeover <= lease_ttl + 30 s ({limit:.0f} s)", k["takeover_s"] <= limit,
                    f"{k['takeover_s']:.1f} s; {k['not_polled_again']} source(s) not polled again"))
    return out


def render(args, r: dict) -> str:
    lag = r["lag"]
    lines = [f"Pamir news monitor: {r['sources']:,} sources ({r['feeds']:,} feeds, {r['channels']:,} Telegram "
             f"previews), {args.hosts} host(s), interval {args.interval:g} s, delay {args.delay * 1000:.0f} ms, "
             f"PostgreSQL; leases {'on' if r['leases'] else 'not in this checkout (two hosts double-poll)'}",
             f"load average before {r['load_before'][0]:.1f}, during the window {r['load_during']:.1f} (mean), after "
             f"{r['load_after'][0]:.1f}; state ready in {r['warmup']['wall_s']:.0f} s; window {r['window_s']:.0f} s; "
             f"{r['published_items']} new items and posts published",
             f"polls {lag['polls']:,} ({lag['polls_per_source_per_interval']:.2f} per source per interval); lag "
             f"p50 {lag['p50']:.1f} s, p99 {lag['p99']:.1f} s, max {lag['max']:.1f} s over {lag['lags_measured']:,} "
             f"polls + {lag['still_waiting_at_end']} source(s) still waiting; never polled "
             f"{lag['sources_never_polled']}"]
    fr = r.get("first_round") or {}
    if fr.get("all_polled_after_s") is not None:
        lines.append(f"first round: first poll {fr['first_poll_after_s']:.0f} s after the start, every source polled "
                     f"{fr['all_polled_after_s']:.0f} s after it ({fr['span_s']:.0f} s from the first poll to the last)")
    for n, h in r["hosts"].items():
        lines.append(f"{n}: CPU {h['cpu_s']:.1f} s = {h['cpu_percent_of_2_cores']:.1f}% of 2 cores; peak RSS "
                     f"{h['peak_rss_mb']:.0f} MB (PSS {h['peak_pss_mb']:.0f} MB; without the screenshots' Chromium "
                     f"{h['peak_rss_without_browser_mb']:.0f} MB RSS, "
                     f"{h.get('peak_pss_without_browser_mb', 0):.0f} MB PSS); exit {h['exit']}")
    pg = r["postgresql"]
    lines.append(f"PostgreSQL server: CPU {pg['cpu_s']:.1f} s = {pg['cpu_percent_of_2_cores']:.1f}% of 2 cores; "
                 f"peak RSS {pg['peak_rss_mb']:.0f} MB (not in the hosts' figures)")
    if "after_kill" in r:
        k = r["after_kill"]
        lines.append(f"host-a killed at +{r['killed_host_a_after_s']:.0f} s: worst lateness of a source's next poll "
                     f"{k['takeover_s']:.1f} s (p99 {k['late_p99']:.1f} s); every source polled again after "
                     f"{k['all_polled_again_after_s'] or float('nan'):.0f} s; not polled again: "
                     f"{k['not_polled_again']}")
    lines.append("targets:")
    lines += [f"  [{'held  ' if ok else 'MISSED'}] {name}: {value}" for name, ok, value in verdicts(args, r)]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
