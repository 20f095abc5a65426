#!/usr/bin/env bash
# Starts a single-node Slurm (munge, slurmctld, slurmd) with two fake GPUs, for the Slurm tests.
# apt: slurmctld slurmd slurm-client munge
# Idempotent: does nothing when the node is already up. Installs nothing; state lives under $BASE.
set -euo pipefail

BASE=${CATAPULT_SLURM_BASE:-/var/tmp/catapult-test-infra/slurm}
H=$(hostname)

need() { command -v "$1" >/dev/null 2>&1 || { echo "slurm.sh: '$1' is missing; install the packages named on this script's '# apt:' line" >&2; exit 1; }; }
need munged; need slurmctld; need slurmd; need sinfo

up() { sinfo -h -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }
if pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null && up; then
  echo "slurm: up ($(sinfo -h -o '%P %t %G' | head -1))"
  exit 0
fi

mkdir -p "$BASE/spool" "$BASE/state" "$BASE/log"
mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
[ -s /etc/munge/munge.key ] || mungekey --create --force
chown munge:munge /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then runuser -u munge -- /usr/sbin/munged; fi

[ -e "$BASE/fakegpu0" ] || mknod "$BASE/fakegpu0" c 1 3
[ -e "$BASE/fakegpu1" ] || mknod "$BASE/fakegpu1" c 1 3

mkdir -p /etc/slurm
cat > /etc/slurm/slurm.conf.new <<CONF
ClusterName=test
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
MpiDefault=none
SlurmdSpoolDir=$BASE/spool
StateSaveLocation=$BASE/state
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.log
MinJobAge=300
NodeName=$H NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 Gres=gpu:fake:2 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
echo "NodeName=$H Name=gpu Type=fake File=$BASE/fakegpu[0-1]" > /etc/slurm/gres.conf

pgrep -x slurmctld >/dev/null || slurmctld -i
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 1 60); do
  if up; then echo "slurm: up ($(sinfo -h -o '%P %t %G' | head -1))"; exit 0; fi
  state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
  case "$state" in down*|drain*) scontrol update nodename="$H" state=resume >/dev/null 2>&1 || true ;; esac
  sleep 0.5
done
echo "slurm.sh: the node did not become idle within 30 s; see $BASE/log/slurmctld.log and $BASE/log/slurmd.log" >&2
exit 1
