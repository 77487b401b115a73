#!/usr/bin/env python3
"""Times whole processes for npm run bench: spawn, wait4, wall time and peak RSS from the kernel.

Reads one JSON object on stdin:
  {"argv": [...], "env": {...}, "cwd": "...", "runs": N, "warmup": W,
   "stdin": "path or null", "fd3": "hex bytes or null", "setup": [argv] or null}
Prints one JSON object: {"ms": [...], "rss_kib": [...], "codes": [...]}.
"setup" is run (untimed) before every timed run, e.g. to reset a tree.

Or a group, timed in turns (one run of each case, then the next round), so that a case and the
baseline it is compared with see the same moments of a machine whose speed drifts:
  {"group": [case, ...], "runs": N, "warmup": W}  ->  {"results": [{"ms": ..., ...}, ...]}

Wall times come from direct posix_spawn runs. Peak RSS comes from separate runs under GNU time:
a child spawned by this (large) Python process would inherit Python's RSS high-water mark through
exec, so wait4's ru_maxrss would never read below Python's own size.
"""
import json, os, subprocess, sys, tempfile, time

GNU_TIME = "/usr/bin/time"

def spawn(argv, env, cwd, stdin_path, fd3, setup):
    if setup:
        subprocess.run(setup, check=True, stdout=subprocess.DEVNULL)
    fin = os.open(stdin_path or os.devnull, os.O_RDONLY)
    devnull = os.open(os.devnull, os.O_WRONLY)
    r3 = None
    if fd3 is not None:
        r3, w3 = os.pipe()
        os.write(w3, fd3)
        os.close(w3)
    file_actions = [(os.POSIX_SPAWN_DUP2, fin, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    if r3 is not None:
        file_actions.append((os.POSIX_SPAWN_DUP2, r3, 3))
    else:
        file_actions.append((os.POSIX_SPAWN_CLOSE, 3))
    prev = os.getcwd()
    if cwd:
        os.chdir(cwd)
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env if env is not None else os.environ, file_actions=file_actions)
    _, status, _ = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    os.chdir(prev)
    os.close(fin); os.close(devnull)
    if r3 is not None:
        os.close(r3)
    return (t1 - t0) / 1e6, os.waitstatus_to_exitcode(status)

def run_once(case, prefix=()):
    fd3 = bytes.fromhex(case["fd3"]) if case.get("fd3") else None
    return spawn(list(prefix) + case["argv"], case.get("env"), case.get("cwd"), case.get("stdin"), fd3, case.get("setup"))

def peak_rss(case, runs):
    out = []
    with tempfile.NamedTemporaryFile("r") as f:
        for i in range(min(5, runs)):
            run_once(case, [GNU_TIME, "-f", "%M", "-o", f.name])
            f.seek(0)
            text = f.read().strip().splitlines()
            out.append(int(text[-1]) if text and text[-1].isdigit() else 0)
    return out

def time_cases(cases, runs, warmup):
    outs = [{"ms": [], "rss_kib": [], "codes": []} for _ in cases]
    for i in range(warmup + runs):
        for case, out in zip(cases, outs):
            ms, code = run_once(case)
            if i >= warmup:
                out["ms"].append(ms)
                out["codes"].append(code)
    for case, out in zip(cases, outs):
        out["rss_kib"] = peak_rss(case, runs)
    return outs

def main():
    spec = json.load(sys.stdin)
    runs, warmup = spec.get("runs", 20), spec.get("warmup", 3)
    if "group" in spec:
        json.dump({"results": time_cases(spec["group"], runs, warmup)}, sys.stdout)
    else:
        json.dump(time_cases([spec], runs, warmup)[0], sys.stdout)

if __name__ == "__main__":
    main()
