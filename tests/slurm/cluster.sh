#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for the tests, all of its state in one folder:
#   tests/slurm/cluster.sh start DIR   writes DIR/slurm.conf, starts munged, slurmctld and
#                                      slurmd, waits until the node is idle; prints
#                                      `SLURM_CONF=DIR/slurm.conf` (what sbatch, squeue and
#                                      scancel need) on success
#   tests/slurm/cluster.sh stop DIR    stops the three daemons
# Needs Debian's slurm-wlm and munge (.ci/run installs them). Exits 2 with one line on stderr
# saying why when the cluster cannot start (no SLURM installed, a daemon refused to start).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 64
fi

stop() {
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munged.pid"; do
    if [ -s "$pid" ]; then kill "$(cat "$pid")" 2>/dev/null || true; fi
  done
  # Give them a moment to go, then make sure.
  sleep 0.5
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munged.pid"; do
    if [ -s "$pid" ]; then kill -9 "$(cat "$pid")" 2>/dev/null || true; rm -f "$pid"; fi
  done
}

fail() {
  echo "slurm cluster: $1" >&2
  stop
  exit 2
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 64; }

for bin in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v "$bin" >/dev/null || fail "$bin not found (install Debian's slurm-wlm and munge)"
done

mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
dir=$(cd "$dir" && pwd)
chmod 700 "$dir/munge"

# munge: a private key and socket, so no system daemon or key is needed.
[ -s "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 \
  || fail "mungekey could not create a key"
chmod 600 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed" \
  || fail "munged did not start (see $dir/munged.log)"

# Ports from the folder's name, so parallel clusters do not collide.
base=$(( 20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000 ))
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=cryolens-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
NodeName=cryolens-node NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

slurmctld -f "$SLURM_CONF" -i || fail "slurmctld did not start (see $dir/slurmctld.log)"
slurmd -f "$SLURM_CONF" -N cryolens-node || fail "slurmd did not start (see $dir/slurmd.log)"

for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
  case "$state" in
    idle*) echo "SLURM_CONF=$SLURM_CONF"; exit 0 ;;
  esac
  sleep 0.5
done
fail "the node did not become idle in 30 s (state '${state:-none}'; see $dir/slurmctld.log and $dir/slurmd.log)"
