#!/usr/bin/env python3
"""End-to-end benchmark: the real agent tails a gen_log.py workload and delivers
it to the fake collector on loopback. Prints, per run and as medians: wall time,
lines/s, the agent's CPU-seconds per million lines, and its peak RSS.

  tests/bench/end_to_end.py [--build build] [--lines 2000000] [--runs 3] [--outage]

With --outage the collector is down while the agent reads the whole log (every
batch goes to the disk spool, spool.fsync on), then comes up: it prints how fast
the spool absorbed the workload (MiB/s of segments, lines/s) and how fast it was
replayed (events/s), and the agent's peak RSS over both.

The log is generated once into /tmp (deterministic: gen_log.py's seed 42).
Needs build/tailtrack and build/fake_collector (cmake --build build).
A run fails (exit 1) if the collector did not receive every matching event.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CONFIG = """\
collector:
  url: {url}
  write_key: bench-key
  max_in_flight: 4
  retry: {{initial_backoff: 50ms, max_backoff: 200ms}}
batch:
  max_events: 500
  max_bytes: 500KiB
  flush_interval: 1s
state_dir: {state}
spool:
  max_bytes: 8GiB  # the outage run must not drop: it measures the spool, not its limit
sources:
  - name: shop
    type: file
    paths: ["{log}"]
    start_at: beginning
    format: text
rules:
  - name: order-completed
    regex: '^(?P<ts>\\S+) INFO order completed order_id=(?P<order_id>\\S+) user_id=(?P<user_id>\\S+) total=(?P<total>[0-9.]+) currency=(?P<currency>[A-Z]{{3}}) channel=(?P<channel>\\S+)'
    event:
      type: track
      event: Order Completed
      userId: "{{{{ user_id }}}}"
      timestamp: "{{{{ ts }}}}"
      properties:
        order_id: "{{{{ order_id }}}}"
        total: "{{{{ total | number }}}}"
        currency: "{{{{ currency }}}}"
        channel: "{{{{ channel }}}}"
"""


def workload(lines):
    log = os.path.join(tempfile.gettempdir(), f"tailtrack_e2e_{lines}.log")
    meta = log + ".meta.json"
    if not os.path.exists(meta):
        subprocess.run([sys.executable, os.path.join(HERE, "gen_log.py"), log, "--lines", str(lines)],
                       check=True, stdout=subprocess.DEVNULL)
    with open(meta) as f:
        return log, json.load(f)


def start_collector(build, out, port=0):
    proc = subprocess.Popen([os.path.join(build, "fake_collector"), "--port", str(port), "--write-key", "bench-key",
                             "--quiet"], stdout=out, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    m = re.search(r"listening on (\S+)", line)
    if not m:
        proc.kill()
        sys.exit(f"fake_collector did not start: {line.strip()}")
    return proc, m.group(1)


def wait_for_events(counts, expected, since, limit=300):
    """Reads the collector's per-request counts until `expected` events or `limit` s after `since`."""
    received = 0
    with open(counts, "rb") as f:
        while received < expected and time.monotonic() - since < limit:
            line = f.readline()
            if line.endswith(b"\n"):
                received += int(line)
            else:
                time.sleep(0.005)
    return received


def one_run(build, log, expected, work):
    counts = os.path.join(work, "collector.out")
    with open(counts, "wb") as out:
        collector, url = start_collector(build, out)
    config = os.path.join(work, "bench.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(url=url, state=os.path.join(work, "state"), log=log))
    t0 = time.monotonic()
    agent = subprocess.Popen([os.path.join(build, "tailtrack"), "run", "-c", config],
                             stderr=open(os.path.join(work, "agent.err"), "w"))
    received = wait_for_events(counts, expected, t0)
    wall = time.monotonic() - t0
    agent.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(agent.pid, 0)
    collector.send_signal(signal.SIGTERM)
    collector.wait()
    return {
        "ok": received == expected and os.waitstatus_to_exitcode(status) == 0,
        "received": received,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
    }


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dir_bytes(path):
    try:
        return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))
    except FileNotFoundError:
        return 0


def outage_run(build, log, expected, work):
    """The collector is down until the whole log is in the spool, then up."""
    port = free_port()
    config = os.path.join(work, "bench.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(url=f"http://127.0.0.1:{port}", state=os.path.join(work, "state"), log=log))
    spool = os.path.join(work, "state", "spool")
    log_bytes = os.path.getsize(log)
    t0 = time.monotonic()
    agent = subprocess.Popen([os.path.join(build, "tailtrack"), "run", "-c", config],
                             stderr=open(os.path.join(work, "agent.err"), "w"))
    # Read to the end (rchar counts the log's bytes) and the spool no longer growing.
    last, still = -1, 0
    while time.monotonic() - t0 < 300:
        with open(f"/proc/{agent.pid}/io") as f:
            rchar = int(next(l for l in f if l.startswith("rchar")).split()[1])
        size = dir_bytes(spool)
        still = still + 1 if size == last and rchar >= log_bytes else 0
        if still >= 5:
            break
        last = size
        time.sleep(0.02)
    spooled_wall = time.monotonic() - t0 - 0.1  # minus the five looks that saw it still
    counts = os.path.join(work, "collector.out")
    with open(counts, "wb") as out:
        collector, _ = start_collector(build, out, port)
    t1 = time.monotonic()
    received = wait_for_events(counts, expected, t1)
    replay_wall = time.monotonic() - t1
    agent.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(agent.pid, 0)
    collector.send_signal(signal.SIGTERM)
    collector.wait()
    return {
        "ok": received == expected and os.waitstatus_to_exitcode(status) == 0,
        "received": received,
        "spool_mib": last / 2**20,
        "spooled_wall": spooled_wall,
        "replay_wall": replay_wall,
        "rss_mib": usage.ru_maxrss / 1024,
    }


def main_outage(a, log, meta, expected):
    runs = []
    for i in range(a.runs):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
            r = outage_run(a.build, log, expected, work)
        runs.append(r)
        print(f"run {i + 1}: spooled {r['spool_mib']:.0f} MiB in {r['spooled_wall']:.2f} s "
              f"({r['spool_mib'] / r['spooled_wall']:.0f} MiB/s, {meta['lines'] / r['spooled_wall'] / 1e6:.2f} M lines/s); "
              f"replayed {r['received']}/{expected} events in {r['replay_wall']:.2f} s "
              f"({r['received'] / r['replay_wall'] / 1e3:.0f} k events/s); peak RSS {r['rss_mib']:.1f} MiB"
              f"{'' if r['ok'] else '  FAILED'}")
    med = lambda k: statistics.median(r[k] for r in runs)
    print(f"median: spool {med('spool_mib') / med('spooled_wall'):.0f} MiB/s, "
          f"replay {expected / med('replay_wall') / 1e3:.0f} k events/s, peak RSS {med('rss_mib'):.1f} MiB")
    return 0 if all(r["ok"] for r in runs) else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--outage", action="store_true", help="collector down: measure the spool, then the replay")
    a = ap.parse_args()

    log, meta = workload(a.lines)
    expected = meta["matching"]
    print(f"workload: {meta['lines']} lines, {meta['bytes'] / 1e6:.0f} MB, {expected} matching; "
          f"load average {os.getloadavg()[0]:.2f}")
    if a.outage:
        return main_outage(a, log, meta, expected)
    runs = []
    for i in range(a.runs):
        with tempfile.TemporaryDirectory() as work:
            r = one_run(a.build, log, expected, work)
        runs.append(r)
        per_m = r["cpu"] / (meta["lines"] / 1e6)
        print(f"run {i + 1}: {r['received']}/{expected} events in {r['wall']:.2f} s "
              f"({meta['lines'] / r['wall'] / 1e6:.2f} M lines/s), agent {per_m:.2f} CPU-s per M lines, "
              f"peak RSS {r['rss_mib']:.1f} MiB{'' if r['ok'] else '  FAILED'}")
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    rss = statistics.median(r["rss_mib"] for r in runs)
    print(f"median: {meta['lines'] / wall / 1e6:.2f} M lines/s, "
          f"{cpu / (meta['lines'] / 1e6):.2f} CPU-s per M lines, peak RSS {rss:.1f} MiB")
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
