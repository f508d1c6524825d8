#!/usr/bin/env bash
# A throwaway one-node SLURM cluster on localhost, for testing `hydra/launcher=slurm` for real.
#
#   scripts/slurm_cluster.sh start DIR   # munged + slurmctld + slurmd, config and state in DIR
#   export SLURM_CONF=DIR/slurm.conf     # what sbatch/squeue/scancel/scontrol then talk to
#   scripts/slurm_cluster.sh stop DIR    # stops the three daemons by their PID files
#
# Needs root and the Debian packages `slurm-wlm munge` (apt-get install -y slurm-wlm munge).
# Nothing outside DIR is written: munged gets its own key and socket, the daemons their own
# ports, so a system munge/SLURM is left alone. No accounting database (slurmdbd): finished
# jobs stay visible to `scontrol show job` for MinJobAge (1 h), and jobcomp/filetxt writes
# every job's final state and exit code to DIR/jobcomp.txt. No GPUs (no gres): the node
# offers this machine's CPUs and 8 GB.
set -euo pipefail

cmd=${1:?usage: slurm_cluster.sh start|stop DIR}
dir=${2:?usage: slurm_cluster.sh start|stop DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

stop() {
  # slurmd first (it may still report to slurmctld), munged last (both authenticate through it).
  for name in slurmd slurmctld munged; do
    pidfile="$dir/$name.pid"
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  for exe in munged slurmctld slurmd sbatch; do
    command -v "$exe" >/dev/null || { echo "$exe not found: apt-get install -y slurm-wlm munge" >&2; exit 3; }
  done
  [[ $(id -u) == 0 ]] || { echo "run as root (the daemons run as root here)" >&2; exit 3; }
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge"
  [[ -f $dir/munge/munge.key ]] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"

  node=$(hostname -s)
  cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  cat >"$dir/slurm.conf" <<EOF
ClusterName=mmctest
SlurmctldHost=$node
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
MinJobAge=3600
KillWait=5
InactiveLimit=0
SlurmdTimeout=60
NodeName=$node CPUs=$cpus RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -c -f "$SLURM_CONF"   # -c: fresh state, no jobs from an earlier cluster in DIR
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "SLURM up: node $node, $cpus CPUs, SLURM_CONF=$SLURM_CONF"
      sinfo
      return 0
    fi
    sleep 0.5
  done
  echo "SLURM did not come up; logs in $dir/log" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  stop
  exit 1
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: slurm_cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
