"""Shared helpers for the pipeline benchmarks: where files go, the machine, child processes that report JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".work" / "bench"  # gitignored; generated inputs are reused between runs
PY = sys.executable
# 1.0 = the goals' full size (1,000,000 requests); `make bench` defaults to a tenth so it stays short.
SCALE = float(os.environ.get("BENCH_SCALE", "0.1"))


def n_requests(full: int = 1_000_000) -> int:
    return max(1000, int(full * SCALE))


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def run_child(code: str, *args: str, env: dict | None = None, timeout: float = 1800) -> dict:
    """Run `code` in a fresh interpreter (own peak RSS, cold imports); it prints one JSON line last."""
    child_env = {**os.environ, "PYTHONPATH": str(REPO / "plugins"), **(env or {})}
    child_env = {k: v for k, v in child_env.items() if v is not None}  # None in `env` removes a variable
    out = subprocess.run([PY, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=child_env,
                         cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# In a child: peak RSS of this process so far, in MiB (Linux reports ru_maxrss in KiB).
PEAK_RSS = "import resource; peak_mib = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024"
