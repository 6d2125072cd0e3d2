"""The monitor's benchmark: one command, one table, one JSON file (project issue 8).

    /work/venv/bin/python bench/run.py                       # 1,000 feeds x 20 items, 100 ms delay
    /work/venv/bin/python bench/run.py --feeds 20 --items 5 --delay 0.01 --soak-cycles 3 --no-rss2email

Steps (each in a fresh child process, measured from here: wall, CPU user+sys of the process and the children it
reaped, peak memory of the whole process tree sampled from /proc, and requests/bytes counted by the site):

  1. `monitor run --once` on a new state file: the first full cycle;
  2. the same again with nothing new: conditional GETs only, no article page, no extraction;
  3. the site publishes 1 % new items, then one more cycle;
  4. the sequential baseline (bench/baseline_sequential.py) and rss2email (bench/baseline_rss2email.py) on the
     same site, reported as ratios; the sequential loop is linear in the feeds, so by default it runs on a sample
     of the feeds and its time is scaled to all of them (said so in the table);
  5. matching and dedup micro-benchmarks (bench/bench_match.py, bench/bench_dedup.py, when present), and memory
     over many cycles (each with 1 % new items).

The site (bench/site.py) runs in its own process and gives every feed its own loopback address, so the monitor's
per-host limit sees 1,000 outlets. The "latency floor" of a cycle is computed from the site's delay and the
monitor's concurrency settings (see `latency_floor`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024

FALLBACK_KEYWORDS = """\
# written by bench/run.py because the repository has no keywords.yaml yet
topics:
  gbao_arrests:
    description: arrests and trials in GBAO (bench fallback)
    all:
      - [Khorog, Khorugh, GBAO, Gorno-Badakhshan, Pamiri]
      - [detained, arrested, sentenced, trial]
"""


# --- the site ---------------------------------------------------------------------------------------------


class SiteProcess:
    def __init__(self, feeds: int, items: int, delay: float, seed: int, log: Path):
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "site.py"), "--feeds", str(feeds), "--items", str(items),
             "--delay", str(delay), "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench/site.py did not start; see {log}")
        self.info = json.loads(line)
        self.control = self.info["control"]
        self.feeds = self.info["feeds"]

    def call(self, cmd: str) -> dict:
        with urllib.request.urlopen(f"{self.control}/{cmd}", timeout=30) as r:
            return json.load(r)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- measuring a child process ----------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode("latin-1")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _tree(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _proc_sample(pid: int) -> tuple[int, int, float] | None:
    """(rss bytes, pss bytes, cpu seconds) of one process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("latin-1")
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        rss = int(fields[21]) * PAGE
        pss = rss
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        pss = int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        return rss, pss, cpu
    except (OSError, ValueError, IndexError):
        return None


class TreeSampler(threading.Thread):
    """Samples a process tree every `interval` s: peak of summed RSS and PSS, last CPU seen per process."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = self.peak_main_rss = 0
        self.max_procs = 0
        self.cpu: dict[int, float] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            rss = pss = 0
            pids = _tree(self.pid)
            for pid in pids:
                got = _proc_sample(pid)
                if got:
                    rss += got[0]
                    pss += got[1]
                    self.cpu[pid] = got[2]
                    if pid == self.pid:
                        self.peak_main_rss = max(self.peak_main_rss, got[0])
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.max_procs = max(self.max_procs, len(pids))
            self.stop_event.wait(self.interval)


def measure(name: str, argv: list[str], workdir: Path, site: SiteProcess | None, env: dict | None = None,
            cwd: Path = ROOT, timeout: float = 7200) -> dict:
    """Run argv in a fresh child; return wall, CPU, memory, exit code and the site's counters for that run."""
    if site:
        site.call("reset")
    out_path, err_path = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    digest = Path((env or {}).get("MONITOR_DIGEST_FILE") or workdir / "digest.txt")
    delivered_before = digest.stat().st_mtime if digest.exists() else None
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0, started = time.perf_counter(), time.time()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        deadline = threading.Timer(timeout, proc.kill)
        deadline.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        deadline.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop_event.set()
        sampler.join()
    cpu_by_proc = sorted(sampler.cpu.values(), reverse=True)
    main_cpu = sampler.cpu.get(proc.pid, 0.0)
    res = {
        "name": name,
        "argv": argv,
        "exit": proc.returncode,
        "wall": wall,
        "cpu_user": usage.ru_utime,
        "cpu_sys": usage.ru_stime,
        "cpu": usage.ru_utime + usage.ru_stime,
        "cores_used": (usage.ru_utime + usage.ru_stime) / wall if wall else 0.0,
        "cpu_main_process": main_cpu,
        "cpu_other_processes": [round(c, 2) for pid, c in sorted(sampler.cpu.items(), key=lambda kv: -kv[1])
                                if pid != proc.pid and c > 0.05],
        "max_processes": sampler.max_procs,
        "peak_rss_tree_mb": sampler.peak_rss / MB,
        "peak_pss_tree_mb": sampler.peak_pss / MB,
        "peak_rss_main_mb": sampler.peak_main_rss / MB,
        "maxrss_single_mb": usage.ru_maxrss / 1024,  # largest single process (Linux: KiB)
        "stdout": str(out_path),
        "stderr": str(err_path),
    }
    del cpu_by_proc
    if digest.exists() and digest.stat().st_mtime != delivered_before:  # the digest file was written this run
        res["delivered_after"] = max(0.0, digest.stat().st_mtime - started)
    if site:
        stats = site.call("stats")
        res["site"] = stats
        req = stats["requests"]
        res["requests"] = stats["total_requests"]
        res["feed_requests"] = req.get("feed", 0)
        res["article_requests"] = req.get("article", 0)
        res["feed_304"] = stats["statuses"].get("feed 304", 0)
        res["bytes"] = stats["total_bytes"]
        res["mean_in_flight"] = stats["mean_in_flight"]
        res["max_in_flight"] = stats["max_in_flight"]
        res["max_in_flight_per_host"] = stats["max_in_flight_per_host"]
        res["server_cpu"] = stats["server_cpu"]
    if proc.returncode != 0:
        res["stderr_tail"] = err_path.read_text(errors="replace")[-3000:]
    return res


# --- the floor ----------------------------------------------------------------------------------------------


def latency_floor(feeds: int, items: int, delay: float, concurrency: int, per_host: int,
                  feeds_per_host: int = 1) -> dict:
    """The shortest possible first cycle for a client with these limits, if every response takes `delay`.

    R = feeds x (1 + items) requests. At most `concurrency` are in flight, so at least ceil(R / C) rounds of
    `delay`. One host (outlet) serves its feed, and only then its `items` articles, at most `per_host` at a
    time: at least (1 + ceil(items / per_host)) rounds for that host. The floor is the larger of the two;
    CPU work (parsing, extraction) and transfer time come on top and are not in it.
    """
    total = feeds * (1 + items)
    rounds_global = math.ceil(total / concurrency)
    host_articles = items * feeds_per_host
    rounds_host = math.ceil(feeds_per_host / per_host) + math.ceil(host_articles / per_host)
    rounds = max(rounds_global, rounds_host)
    return {"requests": total, "concurrency": concurrency, "per_host": per_host, "rounds_global": rounds_global,
            "rounds_per_host": rounds_host, "bound_by": "concurrency" if rounds_global >= rounds_host else "per_host",
            "seconds": rounds * delay}


def monitor_settings_defaults(python: str) -> dict:
    code = ("import json; from monitor.config.feeds import Settings; s=Settings(); "
            "print(json.dumps({'concurrency': s.concurrency, 'per_host': s.per_host}))")
    try:
        out = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout)
    except Exception:
        return {"concurrency": 32, "per_host": 2}


# --- helpers ------------------------------------------------------------------------------------------------


def write_feeds(path: Path, feeds: list[dict], settings: dict) -> None:
    lines = ["# written by bench/run.py", "feeds:"]
    for f in feeds:
        lines.append(f"  - name: {f['name']}\n    url: {f['url']}\n    language: en")
    if settings:
        lines.append("settings:")
        lines += [f"  {k}: {v}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def monitor_env(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "TELEGRAM_"))}
    env["MONITOR_DIGEST_FILE"] = str(workdir / "digest.txt")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def parse_json_output(text: str):
    """The last JSON object or array printed by a micro-benchmark, if any."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_micro(python: str, workdir: Path, quick: bool) -> dict:
    """Item 5: matching and dedup micro-benchmarks, owned by their own scripts.

    HOOK: bench/bench_match.py (5 vs 500 terms over 1 MB of text) and bench/bench_dedup.py (lookup at 100,000
    stories) are written separately. They are run as subprocesses with `--json FILE` if they accept it (else
    their stdout is scanned for a JSON object); while a script is missing its row says "not present".
    """
    out = {}
    for key, script in (("match", "bench_match.py"), ("dedup", "bench_dedup.py")):
        path = BENCH / script
        if not path.exists():
            out[key] = {"status": "not present", "script": f"bench/{script}"}
            continue
        jpath = workdir / f"{key}.json"
        argv = [python, str(path)]
        helptext = subprocess.run(argv + ["--help"], capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
        if "--json" in helptext:
            argv += ["--json", str(jpath)]
        if quick and "--quick" in helptext:
            argv += ["--quick"]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=1800,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        except subprocess.TimeoutExpired:
            out[key] = {"status": "timeout", "script": f"bench/{script}"}
            continue
        data = None
        if jpath.exists():
            try:
                data = json.loads(jpath.read_text())
            except ValueError:
                data = None
        if data is None:
            data = parse_json_output(proc.stdout)
        out[key] = {"status": "ok" if proc.returncode == 0 else f"exit {proc.returncode}", "argv": argv,
                    "wall": time.perf_counter() - t0, "result": data,
                    "stdout_tail": proc.stdout[-2000:], "stderr_tail": proc.stderr[-1500:]}
    return out


def scale_to(run: dict, feeds_run: int, feeds: int) -> None:
    """A baseline run on a sample of the feeds, its totals scaled to all of them (it is linear in the feeds)."""
    run["feeds_run"] = feeds_run
    run["scale"] = feeds / feeds_run
    for k in ("wall", "cpu", "requests", "bytes"):
        if run.get(k) is not None:
            run[f"{k}_scaled"] = run[k] * run["scale"]


def find_number(data, *names: str):
    """First numeric value under any of `names` (searched recursively) in a micro-benchmark's JSON."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k in names and isinstance(v, (int, float)) and not isinstance(v, bool):
                return v
        for v in data.values():
            got = find_number(v, *names)
            if got is not None:
                return got
    elif isinstance(data, list):
        for v in data:
            got = find_number(v, *names)
            if got is not None:
                return got
    return None


def calibrate(python: str, site_args: list[str], samples: int = 30) -> dict:
    """trafilatura's cost on the synthetic pages, and on real pages from ../shared when they are there."""
    corpus = ROOT.parent / "shared" / "corpus" / "extraction-benchmark" / "html"
    code = f"""
import glob, gzip, importlib.util, json, sys, time, trafilatura
spec = importlib.util.spec_from_file_location("bench_site", {str(BENCH / 'site.py')!r})
m = importlib.util.module_from_spec(spec); sys.modules["bench_site"] = m; spec.loader.exec_module(m)
S = m.Site(*{site_args!r}); S.port = 8080
pages = [S.page_bytes(i % S.n_feeds, i % S.n_items).decode() for i in range({samples})]
trafilatura.extract(pages[0])
t = time.process_time(); [trafilatura.extract(p) for p in pages]; e = time.process_time() - t
out = {{"synthetic": {{"pages": len(pages), "avg_kb": sum(map(len, pages)) / len(pages) / 1024,
        "ms_per_page": e / len(pages) * 1000}}}}
files = sorted(glob.glob({str(corpus)!r} + "/*.html.gz"))[:{samples}]
if files:
    real = [gzip.open(f).read().decode("utf-8", "replace") for f in files]
    t = time.process_time(); [trafilatura.extract(p) for p in real]; e = time.process_time() - t
    out["real_corpus"] = {{"pages": len(real), "avg_kb": sum(map(len, real)) / len(real) / 1024,
                          "ms_per_page": e / len(real) * 1000}}
print(json.dumps(out))
"""
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
        return json.loads(proc.stdout)
    except Exception as exc:  # calibration is informative only
        return {"error": str(exc)}


def machine_info() -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "kernel": platform.release(), "loadavg_at_start": os.getloadavg()}


# --- the run ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--delay", type=float, default=0.1, help="site response delay, seconds (default 0.1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--new-fraction", type=float, default=0.01, help="share of new items in cycle 3 and the soak")
    ap.add_argument("--concurrency", type=int, help="write settings.concurrency (default: the monitor's own)")
    ap.add_argument("--per-host", type=int, help="write settings.per_host (default: the monitor's own)")
    ap.add_argument("--keywords", help="keywords.yaml (default: the repository's)")
    ap.add_argument("--python", default=sys.executable, help="Python with the monitor's dependencies")
    ap.add_argument("--baseline-feeds", type=int, default=50,
                    help="feeds the sequential baseline runs on; its time is scaled to all feeds (0: all)")
    ap.add_argument("--no-sequential", action="store_true")
    ap.add_argument("--rss2email-feeds", type=int, default=0, help="feeds for rss2email (0: all)")
    ap.add_argument("--no-rss2email", action="store_true")
    ap.add_argument("--bench-venv", default=os.environ.get("BENCH_VENV", "/work/bench-venv"),
                    help="venv with rss2email (skipped when missing)")
    ap.add_argument("--soak-cycles", type=int, default=50, help="cycles for the memory soak (0: skip)")
    ap.add_argument("--steady-rounds", type=int, default=7,
                    help="nothing-new cycles interleaved with the floor (python -c pass + one 304), 0: skip")
    ap.add_argument("--no-micro", action="store_true", help="skip bench_match.py / bench_dedup.py")
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument("--workdir", help="keep state, logs and digests here (default: a temp dir, removed)")
    ap.add_argument("--json", help="write the results here (default bench/results/bench-<time>.json)")
    ap.add_argument("--update-readme", action="store_true", help="put the table into bench/README.md")
    ap.add_argument("--monitor-timeout", type=float, default=3600)
    ap.add_argument("--monitor-cmd", help="command that stands for `python -m monitor`, e.g. to profile: "
                    "'py-spy record -o cycle.svg --subprocesses -- /work/venv/bin/python -m monitor'")
    ap.add_argument("--postgresql", action="store_true",
                    help="keep the state in a throwaway PostgreSQL cluster on loopback (tests/support/postgres.py)")
    args = ap.parse_args(argv)
    cluster = None
    if args.postgresql:
        sys.path.insert(0, str(ROOT))
        from tests.support.postgres import Cluster, server_bin

        cluster = Cluster(server_bin(), durable=True)
    try:
        return _main(args, cluster)
    finally:
        if cluster:
            cluster.stop()


def _main(args, cluster) -> int:

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="pamir-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    results: dict = {"started": started.isoformat(timespec="seconds"), "machine": machine_info(),
                     "params": {k: v for k, v in vars(args).items() if k not in ("json",)}}

    keywords = Path(args.keywords) if args.keywords else ROOT / "keywords.yaml"
    if not keywords.exists():
        if args.keywords:
            raise SystemExit(f"bench/run.py: --keywords {keywords}: no such file")
        keywords = workdir / "keywords.yaml"
        keywords.write_text(FALLBACK_KEYWORDS, encoding="utf-8")
        results["keywords_note"] = "the repository has no keywords.yaml: a fallback with one topic was used"
    results["keywords"] = str(keywords)

    defaults = monitor_settings_defaults(args.python)
    settings = {}
    if args.concurrency:
        settings["concurrency"] = args.concurrency
    if args.per_host:
        settings["per_host"] = args.per_host
    conc = settings.get("concurrency", defaults["concurrency"])
    per_host = settings.get("per_host", defaults["per_host"])

    json_path = Path(args.json) if args.json else BENCH / "results" / f"bench-{started:%Y%m%d-%H%M%S}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every phase, so a long run that is stopped still leaves its numbers
        json_path.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")

    log = lambda msg: print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    site = SiteProcess(args.feeds, args.items, args.delay, args.seed, workdir / "site.log")
    try:
        feeds_yaml = workdir / "feeds.yaml"
        write_feeds(feeds_yaml, site.feeds, settings)
        state = workdir / "monitor.db"
        env = monitor_env(workdir)
        prefix = shlex.split(args.monitor_cmd) if args.monitor_cmd else [args.python, "-m", "monitor"]
        cmd = [*prefix, "run", "--once", "--feeds", str(feeds_yaml), "--keywords",
               str(keywords), "--state", str(state)]
        if cluster:
            cmd += ["--database-url", cluster.new_database("bench")]
            results["backend"] = "postgresql (loopback; synchronous_commit off, like SQLite WAL + NORMAL)"
        floor = latency_floor(args.feeds, args.items, args.delay, conc, per_host)
        results["floor"] = floor
        log(f"site up on port {site.info['port']} ({args.feeds} hosts); latency floor {floor['seconds']:.2f} s; "
            f"workdir {workdir}")

        # 1-3: the monitor's cycles
        log("cycle 1: first full cycle")
        c1 = results["cycle1"] = measure("cycle1", cmd, workdir, site, env, timeout=args.monitor_timeout)
        c1["db_mb"] = state.stat().st_size / MB if state.exists() else None
        if cluster:
            import psycopg

            with psycopg.connect(cmd[-1]) as conn:
                c1["db_mb"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / MB
        save()
        log(f"  {c1['wall']:.1f} s, exit {c1['exit']}")
        log("cycle 2: nothing new")
        c2 = results["cycle2"] = measure("cycle2", cmd, workdir, site, env, timeout=args.monitor_timeout)
        log(f"  {c2['wall']:.1f} s, exit {c2['exit']}")
        if args.steady_rounds:
            import steady

            log(f"steady: {args.steady_rounds} nothing-new cycles interleaved with the floor")
            results["steady"] = steady.rounds(cmd, site.feeds[0]["url"], python=args.python, n=args.steady_rounds,
                                              env=env, cwd=ROOT)
            save()
            log(f"  median {results['steady']['monitor_median']:.2f} s, floor {results['steady']['floor_median']:.2f} s")
        adv = site.call(f"advance?fraction={args.new_fraction}")
        log(f"cycle 3: {adv['new_items']} new items on {adv['feeds_changed']} feeds")
        c3 = results["cycle3"] = measure("cycle3", cmd, workdir, site, env, timeout=args.monitor_timeout)
        c3["new_items"] = adv["new_items"]
        c3["feeds_changed"] = adv["feeds_changed"]
        save()
        log(f"  {c3['wall']:.1f} s, exit {c3['exit']}")

        # 4: baselines on the same site (same URLs; the baselines keep no state of ours)
        if not args.no_sequential:
            n = args.feeds if not args.baseline_feeds else min(args.baseline_feeds, args.feeds)
            log(f"baseline: sequential httpx + feedparser + trafilatura on {n} feeds")
            b = measure("sequential", [args.python, str(BENCH / "baseline_sequential.py"), "--feeds-file",
                                       str(feeds_yaml), "--limit", str(n)], workdir, site, timeout=14400)
            scale_to(b, n, args.feeds)
            b["detail"] = parse_json_output(Path(b["stdout"]).read_text())
            results["sequential"] = b
            save()
            log(f"  {b['wall']:.1f} s for {n} feeds -> {b['wall_scaled']:.0f} s scaled to {args.feeds}")
        r2e = Path(args.bench_venv) / "bin" / "r2e"
        if args.no_rss2email:
            pass
        elif not r2e.exists():
            results["rss2email"] = {"status": f"skipped: rss2email not installed in {args.bench_venv}"}
            log(results["rss2email"]["status"])
        else:
            sys.path.insert(0, str(BENCH))
            import baseline_rss2email as b2e

            n = args.rss2email_feeds or args.feeds
            n = min(n, args.feeds)
            r2dir = workdir / "rss2email"
            r2dir.mkdir(exist_ok=True)
            ready, stats_file = r2dir / "sink.ready", r2dir / "sink.stats"
            sink = subprocess.Popen([sys.executable, str(BENCH / "baseline_rss2email.py"), "sink", "--ready-file",
                                     str(ready), "--stats-file", str(stats_file)])
            try:
                for _ in range(100):
                    if ready.exists() and ready.read_text():
                        break
                    time.sleep(0.1)
                port = json.loads(ready.read_text())["port"]
                argv_r2e = b2e.write_config(r2dir, site.feeds[:n], port, args.bench_venv)
                log(f"baseline: rss2email on {n} feeds (SMTP sink on port {port})")
                r = measure("rss2email", argv_r2e, workdir, site, {**os.environ, "HOME": str(r2dir)}, timeout=14400)
                log(f"baseline: rss2email again, nothing new (its steady run)")
                r["steady"] = measure("rss2email-steady", argv_r2e, workdir, site, {**os.environ, "HOME": str(r2dir)},
                                      timeout=14400)
            finally:
                sink.send_signal(signal.SIGTERM)
                sink.wait(10)
            r["mails"] = json.loads(stats_file.read_text()) if stats_file.exists() else None
            scale_to(r, n, args.feeds)
            results["rss2email"] = r
            save()
            log(f"  {r['wall']:.1f} s, exit {r['exit']}, {r['mails'] and r['mails']['messages']} mails")

        # 5: micro-benchmarks and the soak
        if not args.no_micro:
            log("micro-benchmarks: bench_match.py, bench_dedup.py")
            results["micro"] = run_micro(args.python, workdir, quick=args.feeds < 100)
        if args.soak_cycles:
            log(f"soak: {args.soak_cycles} cycles with {args.new_fraction:.0%} new items each")
            soak = []
            for k in range(args.soak_cycles):
                adv = site.call(f"advance?fraction={args.new_fraction}")
                m = measure(f"soak{k:03d}", cmd, workdir, site, env, timeout=args.monitor_timeout)
                soak.append({"cycle": k + 1, "wall": m["wall"], "cpu": m["cpu"], "exit": m["exit"],
                             "peak_pss_tree_mb": m["peak_pss_tree_mb"], "peak_rss_tree_mb": m["peak_rss_tree_mb"],
                             "peak_rss_main_mb": m["peak_rss_main_mb"], "new_items": adv["new_items"],
                             "article_requests": m["article_requests"], "bytes": m["bytes"],
                             "db_mb": state.stat().st_size / MB if state.exists() else None})
                for name in ("stdout", "stderr"):
                    if m["exit"] == 0:
                        Path(m[name]).unlink(missing_ok=True)
            results["soak"] = summarize_soak(soak)
            log(f"  peak PSS first/last: {results['soak']['first_mb']:.0f} / {results['soak']['last_mb']:.0f} MB")
        if not args.no_calibrate:
            results["calibration"] = calibrate(args.python, [min(args.feeds, 50), args.items, 0.0, args.seed, 0.02, 5,
                                                             50, 150])
    finally:
        site.stop()

    results["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["targets"] = evaluate(results)
    table = render(results)
    print(table)
    save()
    print(f"\nJSON: {json_path}")
    if args.update_readme:
        update_readme(results, table)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [k for k in ("cycle1", "cycle2", "cycle3") if results[k]["exit"] != 0]
    return 1 if failed else 0


def summarize_soak(soak: list[dict]) -> dict:
    pss = [s["peak_pss_tree_mb"] for s in soak]
    k = max(1, min(10, len(pss) // 3))
    first, last = statistics.median(pss[:k]), statistics.median(pss[-k:])
    n = len(pss)
    if n >= 2:
        xbar, ybar = (n - 1) / 2, sum(pss) / n
        slope = sum((x - xbar) * (y - ybar) for x, y in enumerate(pss)) / sum((x - xbar) ** 2 for x in range(n))
    else:
        slope = 0.0
    return {"cycles": soak, "first_mb": first, "last_mb": last, "growth_ratio": last / first if first else None,
            "slope_mb_per_cycle": slope, "max_mb": max(pss), "failed_cycles": sum(1 for s in soak if s["exit"]),
            "median_wall": statistics.median(s["wall"] for s in soak),
            "db_mb_first": soak[0]["db_mb"], "db_mb_last": soak[-1]["db_mb"]}


# --- targets and the table ----------------------------------------------------------------------------------


def evaluate(r: dict) -> list[dict]:
    t = []
    c1, c2, c3 = r["cycle1"], r["cycle2"], r["cycle3"]

    def add(name, held, value, note=""):
        t.append({"target": name, "held": held, "value": value, "note": note})

    p = r["params"]
    expected = p["feeds"] * p["items"]
    ok_pages = c1.get("site", {}).get("statuses", {}).get("article 200", 0)
    ok_feeds = c1.get("site", {}).get("statuses", {}).get("feed 200", 0)
    complete = c1["exit"] == 0 and ok_pages >= expected and ok_feeds >= p["feeds"]
    add("first cycle complete (every feed and article fetched)", complete,
        f"{ok_feeds}/{p['feeds']} feeds, {ok_pages}/{expected} articles, exit {c1['exit']}",
        "" if complete else "a cycle that skipped work is not comparable: speed ratios below are not valid")
    seq = r.get("sequential")
    if seq and seq.get("exit") == 0:
        ratio = seq["wall_scaled"] / c1["wall"]
        want = 20 if p["feeds"] >= 1000 else 12  # issue 18: >= 12x on the 30-host bench, >= 20x at 1,000 feeds
        add(f"first cycle >= {want}x faster than sequential", ratio >= want if complete else False, f"{ratio:.1f}x",
            ("sequential time scaled from a sample" if seq["scale"] != 1 else "")
            + ("" if complete else "; INVALID: first cycle incomplete"))
    floor = r["floor"]["seconds"]
    if floor > 0:
        add("first cycle within 3x of the latency floor", c1["wall"] <= 3 * floor and complete,
            f"{c1['wall'] / floor:.1f}x of {floor:.2f} s", "" if complete else "INVALID: first cycle incomplete")
    others = c1["cpu_other_processes"]
    spread = len([c for c in others if c >= 0.1 * max(c1["cpu"], 1e-9)]) >= 2 or c1["cores_used"] >= 1.5
    add("extraction spread over both cores", spread,
        f"{c1['cores_used']:.2f} cores; main {c1['cpu_main_process']:.1f} s, others {others[:4]}")
    if c1.get("bytes"):
        share = c2["bytes"] / c1["bytes"]
        add("second cycle <= 5% of first cycle's bytes", share <= 0.05, f"{share:.2%}")
    add("second cycle fetches no article (no extraction)", c2.get("article_requests", 1) == 0,
        f"{c2.get('article_requests')} article requests")
    steady = r.get("steady")
    if steady:
        bound = 2 * steady["floor_median"]
        add("nothing new within 2x of `python -c pass` + one round trip", steady["monitor_median"] <= bound,
            f"median {steady['monitor_median']:.2f} s vs floor {steady['floor_median']:.2f} s "
            f"({steady['ratio_to_floor']:.2f}x; python -c pass {steady['python_pass_median']:.3f} s)")
    r2e_steady = (r.get("rss2email") or {}).get("steady")
    if r2e_steady and r2e_steady.get("exit") == 0:
        ours = steady["monitor_median"] if steady else c2["wall"]
        ratio = r2e_steady["wall"] / ours
        add("nothing new >= 10x faster than rss2email's steady run", ratio >= 10,
            f"{ratio:.1f}x ({r2e_steady['wall']:.1f} s vs {ours:.2f} s)")
    new = c3.get("new_items") or 0
    if new:
        add("1% new: article fetches == new items", c3.get("article_requests") == new,
            f"{c3.get('article_requests')} fetched for {new} new")
    match = (r.get("micro") or {}).get("match") or {}
    ratio = find_number(match.get("result"), "ratio", "ratio_500_to_5", "ratio_500_vs_5", "slowdown")
    if ratio is not None:
        add("matching flat: 500 terms <= 1.5x of 5 terms", ratio <= 1.5, f"{ratio:.2f}x")
    else:
        add("matching flat: 500 terms <= 1.5x of 5 terms", None, match.get("status", "not run"))
    dedup = (r.get("micro") or {}).get("dedup") or {}
    p99 = find_number(dedup.get("result"), "find_hit_p99_ms")
    if p99 is not None:
        stories = find_number(dedup.get("result"), "stories") or 0
        add(f"dedup lookup at {stories:,.0f} stories well under 2 ms", p99 < 2, f"p99 {p99:.2f} ms")
    peak = max(c1["peak_pss_tree_mb"], c2["peak_pss_tree_mb"], c3["peak_pss_tree_mb"])
    add(f"peak memory < 300 MB at {r['params']['feeds']} feeds", peak < 300,
        f"{peak:.0f} MB PSS (process tree; RSS sum {c1['peak_rss_tree_mb']:.0f} MB)")
    soak = r.get("soak")
    if soak:
        grows = soak["slope_mb_per_cycle"] > 0.5 or (soak["growth_ratio"] or 1) > 1.10
        add(f"no memory growth over {len(soak['cycles'])} cycles", not grows,
            f"{soak['first_mb']:.0f} -> {soak['last_mb']:.0f} MB, slope {soak['slope_mb_per_cycle']:+.2f} MB/cycle")
    return t


def _fmt_bytes(n) -> str:
    if n is None:
        return "-"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def render(r: dict) -> str:
    p = r["params"]
    lines = [f"Pamir news monitor benchmark — {p['feeds']} feeds x {p['items']} items, delay {p['delay'] * 1000:.0f} ms, "
             f"{r['machine']['cores']} cores ({r['machine']['cpu']}), {r['started'][:10]}; load average before "
             f"{r['machine']['loadavg_at_start'][0]:.1f}, after {r['machine'].get('loadavg_at_end', [0])[0]:.1f}",
             f"latency floor (concurrency {r['floor']['concurrency']}, per host {r['floor']['per_host']}): "
             f"{r['floor']['seconds']:.2f} s = {max(r['floor']['rounds_global'], r['floor']['rounds_per_host'])} "
             f"rounds of {p['delay']} s, bound by {r['floor']['bound_by']}", ""]
    hdr = f"{'run':<34}{'wall s':>9}{'CPU s':>9}{'cores':>7}{'peak MB':>9}{'requests':>10}{'articles':>10}{'bytes':>10}{'vs 1st':>8}"
    lines += [hdr, "-" * len(hdr)]
    c1 = r["cycle1"]

    def row(label, m, scaled=False, vs=True):
        wall = m.get("wall_scaled" if scaled else "wall")
        cpu = m.get("cpu_scaled" if scaled else "cpu")
        req = m.get("requests_scaled" if scaled else "requests")
        byt = m.get("bytes_scaled" if scaled else "bytes")
        ratio = f"{wall / c1['wall']:.1f}x" if vs and wall and c1["wall"] else ""
        arts = m.get("article_requests")
        if scaled and arts is not None:
            arts = arts * m.get("scale", 1)
        lines.append(f"{label:<34}{wall:>9.1f}{cpu:>9.1f}{m['cores_used']:>7.2f}{m['peak_pss_tree_mb']:>9.0f}"
                     f"{(f'{req:.0f}' if req is not None else '-'):>10}{(f'{arts:.0f}' if arts is not None else '-'):>10}"
                     f"{_fmt_bytes(byt):>10}{ratio:>8}")

    row("1. monitor, first cycle", c1, vs=False)
    row("2. monitor, nothing new", r["cycle2"])
    row(f"3. monitor, {r['cycle3'].get('new_items', 0)} new items", r["cycle3"])
    seq = r.get("sequential")
    if seq:
        label = "4. sequential baseline" + (f" (x{seq['scale']:.0f} of {seq['feeds_run']})" if seq["scale"] != 1 else "")
        row(label, seq, scaled=True)
    r2 = r.get("rss2email")
    if r2 and "wall" in r2:
        label = "4. rss2email" + (f" (x{r2['scale']:.0f} of {r2['feeds_run']})" if r2["scale"] != 1 else "")
        row(label, r2, scaled=True)
        if r2.get("steady") and "wall" in r2["steady"]:
            row("4. rss2email, nothing new", r2["steady"])
    elif r2:
        lines.append(f"4. rss2email: {r2.get('status')}")
    steady = r.get("steady")
    if steady:
        lines.append(f"2b. nothing new, median of {steady['rounds']} interleaved rounds: {steady['monitor_median']:.2f} s; "
                     f"floor (python -c pass + one 304) {steady['floor_median']:.2f} s; python -c pass "
                     f"{steady['python_pass_median']:.3f} s")
    lines.append("")
    lines.append("peak MB = peak summed PSS of the process tree (main + extraction workers), sampled every 0.1 s; "
                 "CPU = user+sys incl. reaped children")
    if c1.get("mean_in_flight") is not None:
        lines.append(f"first cycle: requests in flight mean {c1['mean_in_flight']:.1f}, max {c1['max_in_flight']}, "
                     f"max per host {c1['max_in_flight_per_host']}; site CPU {c1['server_cpu']:.1f} s; "
                     f"CPU main process {c1['cpu_main_process']:.1f} s, other processes {c1['cpu_other_processes'][:6]}")
    if c1.get("delivered_after") is not None:  # the stories' own path ends here; screenshots may still render
        ratio = f" ({seq['wall_scaled'] / c1['delivered_after']:.1f}x the sequential loop)" if seq else ""
        lines.append(f"first cycle: digest delivered after {c1['delivered_after']:.1f} s{ratio}; the run ended after "
                     f"{c1['wall']:.1f} s (what comes after the digest: the screenshots still queued, the end of the run)")
    if seq and seq.get("detail"):
        d = seq["detail"]
        lines.append(f"sequential ({seq['feeds_run']} feeds): feed GETs {d['t_fetch_feed']:.1f} s, feedparser {d['t_parse']:.1f} s, "
                     f"page GETs {d['t_fetch_page']:.1f} s, trafilatura {d['t_extract']:.1f} s, matched {d['matched']}/{d['extracted']}")
    if r2 and r2.get("mails"):
        lines.append(f"rss2email: {r2['mails']['messages']} mails to the sink; it fetches feeds only (no article page, no matching)")
    micro = r.get("micro")
    if micro:
        for key, m in micro.items():
            summary = m.get("status")
            if m.get("result") is not None:
                summary += ": " + json.dumps(m["result"])[:300]
            lines.append(f"5. {key}: {summary}")
    soak = r.get("soak")
    if soak:
        lines.append(f"5. memory over {len(soak['cycles'])} cycles: peak PSS {soak['first_mb']:.0f} MB (first) -> "
                     f"{soak['last_mb']:.0f} MB (last), max {soak['max_mb']:.0f} MB, slope {soak['slope_mb_per_cycle']:+.2f} "
                     f"MB/cycle; median cycle {soak['median_wall']:.1f} s; state {soak['db_mb_first']:.1f} -> "
                     f"{soak['db_mb_last']:.1f} MB; failed cycles {soak['failed_cycles']}")
    cal = r.get("calibration")
    if cal and "synthetic" in cal:
        s = cal["synthetic"]
        text = f"trafilatura: synthetic pages {s['avg_kb']:.0f} KB avg, {s['ms_per_page']:.1f} ms/page"
        if "real_corpus" in cal:
            c = cal["real_corpus"]
            text += f"; real corpus pages {c['avg_kb']:.0f} KB avg, {c['ms_per_page']:.1f} ms/page"
        lines.append(text)
    if r.get("keywords_note"):
        lines.append("note: " + r["keywords_note"])
    lines += ["", "targets:"]
    for t in r["targets"]:
        mark = {True: "held  ", False: "MISSED", None: "n/a   "}[t["held"]]
        lines.append(f"  [{mark}] {t['target']}: {t['value']}" + (f" ({t['note']})" if t["note"] else ""))
    return "\n".join(lines)


def update_readme(r: dict, table: str) -> None:
    readme = BENCH / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# bench\n"
    m = r["machine"]
    block = (f"<!-- last-run:start -->\nMeasured {r['started'][:16].replace('T', ' ')} UTC on {m['cores']} cores "
             f"({m['cpu']}, {m['memory']}), Python {m['python']}:\n\n```\n{table}\n```\n<!-- last-run:end -->")
    if "<!-- last-run:start -->" in text:
        text = re.sub(r"<!-- last-run:start -->.*?<!-- last-run:end -->", lambda _: block, text, flags=re.S)
    else:
        text += "\n## Last measured\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
