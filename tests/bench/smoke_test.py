#!/usr/bin/env python3
"""ctest bench.smoke: tests/bench/bench end to end on a small workload with the
test build's agent and sink (--build, nothing built), so that the tool cannot
rot. Checks that every run delivered every expected event to the sink and
that the JSON holds the figures. Never checks a timing against a goal.

  smoke_test.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    build = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="tailtrack-bench-smoke-") as work:
        out = os.path.join(work, "bench.json")
        cmd = [sys.executable, os.path.join(HERE, "bench"), "--build", build, "--quick", "--lines", "20000",
               "--runs", "1", "--scenario", "baseline", "--scenario", "outage", "--scenario", "idle",
               "--work", work, "--json", out, "--timeout", "120"]
        p = subprocess.run(cmd)
        if p.returncode != 0:
            sys.exit(f"bench exited {p.returncode}")
        with open(out) as f:
            report = json.load(f)

    errors = []
    for key in ("nproc", "cpu_model", "load_average_at_start"):
        if key not in report["machine"]:
            errors.append(f"machine.{key} missing")
    wl = report["workload"]
    if wl["lines"] != 20000 or not 0 < wl["matching"] < wl["lines"]:
        errors.append(f"workload: {wl}")
    expected = {
        "baseline": ["lines_per_s", "mib_per_s", "cpu_s_per_m_lines", "peak_rss_mib", "idle_rss_mib", "requests"],
        "outage": ["absorb_mib_per_s", "absorb_lines_per_s", "replay_events_per_s", "replay_peak_rss_mib"],
        "idle": ["idle_rss_mib", "peak_rss_mib"],
    }
    for scenario, keys in expected.items():
        res = report["results"].get(scenario)
        if not res or len(res["runs"]) != 1 or not res["runs"][0]["ok"]:
            errors.append(f"{scenario}: no successful run: {res}")
            continue
        if scenario != "idle" and res["runs"][0]["events_delivered"] != wl["matching"]:
            errors.append(f"{scenario}: the sink saw {res['runs'][0]['events_delivered']} of {wl['matching']} events")
        for k in keys:
            v = res["median"].get(k)
            if not isinstance(v, (int, float)) or v <= 0:
                errors.append(f"{scenario}.median.{k} = {v!r}")
    goals = {g["key"] + "@" + g["scenario"]: g for g in report["goals"]}
    for k in ("cpu_s_per_m_lines@baseline", "peak_rss_mib@baseline", "idle_rss_mib@idle", "replay_peak_rss_mib@outage"):
        if k not in goals or goals[k]["value"] is None or goals[k]["met"] not in (True, False):
            errors.append(f"goal {k}: {goals.get(k)}")
    if errors:
        sys.exit("bench smoke test:\n  " + "\n  ".join(errors))
    print("bench smoke test: every event delivered, every figure in the JSON")


if __name__ == "__main__":
    main()
