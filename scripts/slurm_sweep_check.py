"""A 4-job sweep on a real one-node SLURM cluster, with one job failing and one cancelled.

    sudo .venv/bin/python scripts/slurm_sweep_check.py     # needs: apt-get install slurm-wlm munge

Brings up munged + slurmctld + slurmd in a temporary directory (scripts/slurm_cluster.sh),
submits `mmc train -m --config-dir <lab conf> hydra/launcher=mylab +case=ok0,ok1,diverge,slow`
through a lab-owned launcher preset (as docs/sweeps.md describes), where
  diverge  fails inside mmc (lr=1e30: "training diverged"),
  slow     is cancelled with `scancel` once its first epoch is logged,
then checks: exit status 1, the summary line, two summaries and two failure.json files (the
cancelled one with SLURM's state CANCELLED), SLURM's own states (COMPLETED x2, FAILED with a
non-zero exit code, CANCELLED). Then it re-runs the same command into the same sweep dir and
checks that only the two unfinished jobs are submitted, the cancelled job now completes (three
summaries) and the diverging one fails again (exit 1). The daemons are stopped by PID at the
end, whatever happens. Exit status 0 when every check passed, 1 otherwise, 3 when SLURM
cannot be run here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "scripts" / "slurm_cluster.sh"
MMC = [sys.executable, "-m", "mmc.cli"]

LAB_PRESET = """\
# A lab's own cluster preset, kept outside the package (docs/sweeps.md, "Cluster presets").
defaults:
  - slurm
partition: debug
cpus_per_task: 1
mem_gb: 2
timeout_min: 30
gpus_per_node: 0
array_parallelism: 2
"""
FAST = "diagnostics:\n  unimodal: false\ndataset:\n  source:\n    n_train: 1000\n    n_val: 300\n    n_test: 300\n"
CASES = {
    "ok0": "# @package _global_\nseed: 0\ntrain:\n  epochs: 2\n" + FAST,
    "ok1": "# @package _global_\nseed: 1\ntrain:\n  epochs: 2\n" + FAST,
    # Adam with lr 1e30 drives the loss to inf/nan: mmc raises "training diverged".
    "diverge": "# @package _global_\ntrain:\n  epochs: 2\n  lr: 1.0e30\n" + FAST,
    "slow": "# @package _global_\ntrain:\n  epochs: 300\n" + FAST,  # ~50 s
}

results: list[tuple[bool, str]] = []


def check(ok: bool, what: str) -> bool:
    results.append((bool(ok), what))
    print(f"  [{'PASS' if ok else 'FAIL'}] {what}", flush=True)
    return bool(ok)


def slurm_jobs(env: dict) -> dict[str, dict[str, str]]:
    """JobId (array task as <id>_<task>) -> scontrol fields, for every job the cluster knows."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o"], env=env, capture_output=True, text=True
    ).stdout
    jobs = {}
    for line in out.splitlines():
        f = dict(re.findall(r"(\w+)=(\S*)", line))
        key = f"{f['ArrayJobId']}_{f['ArrayTaskId']}" if f.get("ArrayTaskId") else f["JobId"]
        jobs[key] = f
    return jobs


def sweep(cmd: list[str], env: dict, sweep_dir: Path, cancel_job: int | None):
    """Run the sweep; cancel job `cancel_job` with scancel once its first epoch is logged."""
    log = sweep_dir.parent / f"sweep_{len(list(sweep_dir.parent.glob('sweep_*.log')))}.log"
    print("$", " ".join(cmd), flush=True)
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        cancelled = None
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            metrics = sweep_dir / str(cancel_job) / "metrics.jsonl"
            if cancel_job is not None and cancelled is None and metrics.exists():
                tasks = sorted((sweep_dir / ".submitit").glob(f"*_{cancel_job}"))
                if tasks:
                    cancelled = tasks[-1].name
                    print(f"$ scancel {cancelled}   # job {cancel_job} logged an epoch", flush=True)
                    subprocess.run(["scancel", cancelled], env=env, check=True)
            time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
            check(False, "sweep finished within 15 minutes")
        rc = proc.wait()
    text = log.read_text()
    print("  --- mmc output (HYDRA/mmc lines) ---")
    for line in text.splitlines():
        if line.startswith(("mmc:", "[")) and "submitit INFO" not in line:
            print("  |", line[:220])
    return rc, text, cancelled


def main() -> int:
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        print("slurmctld/munged not installed: apt-get install -y slurm-wlm munge")
        return 3
    if os.geteuid() != 0:
        print("run as root: the throwaway cluster's daemons run as root")
        return 3
    work = Path(tempfile.mkdtemp(prefix="mmc-slurm-check-"))
    cluster = work / "cluster"
    try:
        subprocess.run([str(CLUSTER), "start", str(cluster)], check=True)
        env = {**os.environ, "SLURM_CONF": str(cluster / "slurm.conf"), "WANDB_MODE": "disabled"}
        env["PYTHONPATH"] = str(ROOT)
        lab = work / "labconf"
        (lab / "hydra" / "launcher").mkdir(parents=True)
        (lab / "hydra" / "launcher" / "mylab.yaml").write_text(LAB_PRESET)
        (lab / "case").mkdir()
        for name, text in CASES.items():
            (lab / "case" / f"{name}.yaml").write_text(text)
        sweep_dir = work / "sweep"
        cmd = [*MMC, "train", "-m", "--config-dir", str(lab), "hydra/launcher=mylab",
               "+case=ok0,ok1,diverge,slow", "logger=none", f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip

        print("\n== first run: 4 jobs, #2 diverges inside mmc, #3 is cancelled by scancel")
        t0 = time.monotonic()
        rc, out, cancelled = sweep(cmd, env, sweep_dir, cancel_job=3)
        print(f"  (took {time.monotonic() - t0:.0f} s)")
        check(rc == 1, f"exit status 1 (got {rc})")
        check(
            "mmc: sweep" in out and "2 job(s) completed, 2 failed" in out,
            "summary line '2 job(s) completed, 2 failed'",
        )
        summaries = sorted(p.parent.name for p in sweep_dir.glob("*/summary.json"))
        check(summaries == ["0", "1"], f"summaries of jobs 0 and 1 (got {summaries})")
        fail2 = json.loads((sweep_dir / "2" / "failure.json").read_text())
        check(
            "diverged" in fail2["message"] and fail2.get("slurm_state") == "FAILED",
            f"job 2 failure.json: {fail2['message'][:80]!r}, slurm_state={fail2.get('slurm_state')}",
        )
        f3 = sweep_dir / "3" / "failure.json"
        fail3 = json.loads(f3.read_text()) if f3.exists() else {}
        check(
            fail3.get("slurm_state") == "CANCELLED",
            f"job 3 failure.json with SLURM's state: {fail3.get('slurm_state')} "
            f"({fail3.get('message', '')[:90]!r})",
        )
        jobs = slurm_jobs(env)
        main_id = (cancelled or "?_3").split("_")[0]
        states = {t: (jobs.get(f"{main_id}_{t}") or {}) for t in range(4)}
        for t, f in states.items():
            print(
                f"  scontrol: {main_id}_{t} JobState={f.get('JobState')} ExitCode={f.get('ExitCode')}"
            )
        check(
            [states[t].get("JobState") for t in range(4)]
            == ["COMPLETED", "COMPLETED", "FAILED", "CANCELLED"],
            "SLURM states COMPLETED, COMPLETED, FAILED, CANCELLED",
        )
        check(
            states[2].get("ExitCode", "0:0").split(":")[0] != "0",
            f"the job failing inside mmc exits non-zero to SLURM (ExitCode={states[2].get('ExitCode')})",
        )
        before = set(jobs)

        print("\n== re-run into the same sweep dir: only jobs 2 and 3 are submitted")
        rc, out, _ = sweep(cmd, env, sweep_dir, cancel_job=None)
        check(rc == 1, f"exit status 1 (job 2 still diverges; got {rc})")
        check("submitting 2 of 4 job(s) (2 already completed)" in out, "launcher submits 2 of 4")
        new = {k: v for k, v in slurm_jobs(env).items() if k not in before and "_" in k}
        tasks = sorted(int(k.split("_")[1]) for k in new)
        check(tasks == [0, 1], f"the cluster got one 2-task array (tasks {tasks})")
        check("3 job(s) completed, 1 failed" in out, "summary line '3 job(s) completed, 1 failed'")
        summaries = sorted(p.parent.name for p in sweep_dir.glob("*/summary.json"))
        check(summaries == ["0", "1", "3"], f"three summaries: jobs {summaries}")
        comp = (cluster / "jobcomp.txt").read_text().splitlines()
        print(f"  jobcomp.txt: {len(comp)} records; last: {comp[-1][:160] if comp else ''}")
    finally:
        subprocess.run([str(CLUSTER), "stop", str(cluster)])
        left = subprocess.run(["pgrep", "-f", str(cluster)], capture_output=True, text=True)
        check(not left.stdout.strip(), "no SLURM/munge daemon of this cluster left running")
    passed = sum(ok for ok, _ in results)
    print(f"\n{passed}/{len(results)} checks passed (work dir {work})")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
