#!/usr/bin/env python3
"""Times whole processes for npm run bench: spawn, wait4, wall time and peak RSS from the kernel.

Reads one JSON object on stdin:
  {"argv": [...], "env": {...}, "cwd": "...", "runs": N, "warmup": W,
   "stdin": "path or null", "fd3": "hex bytes or null", "setup": [argv] or null}
Prints one JSON object: {"ms": [...], "rss_kib": [...], "codes": [...]}.
"setup" is run (untimed) before every timed run, e.g. to reset a tree.

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

def main():
    spec = json.load(sys.stdin)
    argv, env, cwd = spec["argv"], spec.get("env"), spec.get("cwd")
    runs, warmup = spec.get("runs", 20), spec.get("warmup", 3)
    fd3 = bytes.fromhex(spec["fd3"]) if spec.get("fd3") else None
    stdin_path, setup = spec.get("stdin"), spec.get("setup")
    out = {"ms": [], "rss_kib": [], "codes": []}
    for i in range(warmup + runs):
        ms, code = spawn(argv, env, cwd, stdin_path, fd3, setup)
        if i >= warmup:
            out["ms"].append(ms)
            out["codes"].append(code)
    with tempfile.NamedTemporaryFile("r") as f:
        for i in range(min(5, runs)):
            spawn([GNU_TIME, "-f", "%M", "-o", f.name] + argv, env, cwd, stdin_path, fd3, setup)
            f.seek(0)
            text = f.read().strip().splitlines()
            out["rss_kib"].append(int(text[-1]) if text and text[-1].isdigit() else 0)
    json.dump(out, sys.stdout)

if __name__ == "__main__":
    main()
