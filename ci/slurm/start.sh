#!/usr/bin/env bash
# Starts a single-node Slurm cluster for tests: munged, slurmctld and slurmd, all running as the
# calling user (root in CI) with every file under STATE_DIR.
#
#   ci/slurm/start.sh STATE_DIR [CONTROLLER_PORT [NODE_PORT]]
#
# The controller and the node daemon listen on 127.0.0.1 only (NoCtldInAddrAny and NoInAddrAny
# bind them to the address that "localhost" resolves to), and munged talks over a Unix socket.
# On success the script prints `SLURM_CONF=STATE_DIR/slurm.conf`; clients such as sbatch and
# squeue need that variable. The process ids are in STATE_DIR/*.pid; ci/slurm/stop.sh STATE_DIR
# stops the daemons. Without cgroups, jobs are tracked by process tree (proctrack/linuxproc) and
# are not confined to their CPUs or memory.
set -euo pipefail

if (($# < 1)); then
    echo "usage: $0 STATE_DIR [CONTROLLER_PORT [NODE_PORT]]" >&2
    exit 2
fi
mkdir -p "$1"
state=$(cd "$1" && pwd)
controller_port=${2:-16817}
node_port=${3:-16818}

# The daemons live in /usr/sbin, which is not on every user's PATH.
export PATH=$PATH:/usr/sbin:/sbin
for program in munged mungekey slurmctld slurmd sinfo; do
    if ! command -v "$program" >/dev/null; then
        echo "$program not found: install the Debian packages munge, slurmctld, slurmd and slurm-client" >&2
        exit 3
    fi
done

user=$(id -un)
mkdir -p "$state/munge" "$state/ctld" "$state/spool" "$state/log"
chmod 711 "$state/munge"

# munged accepts only a key that its owner alone can read.
if [[ ! -f $state/munge/munge.key ]]; then
    mungekey --create --keyfile="$state/munge/munge.key" --force
fi
chmod 600 "$state/munge/munge.key"
socket=$state/munge/munge.socket

# slurmd -C prints the CPUs, sockets, cores and memory of this machine. The node is declared
# with them, so that the controller does not drain it for having less than configured.
hardware=$(slurmd -C | sed -n 's/^NodeName=[^ ]* //p')

cat >"$state/slurm.conf" <<EOF
ClusterName=sparse-lstm-ad-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$controller_port
SlurmdPort=$node_port
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
# Memory is not a consumable resource, so that jobs without --mem do not each claim the whole node.
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
# Finished jobs stay visible to scontrol for ten minutes.
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$state/slurm.conf

munged --force --key-file="$state/munge/munge.key" --socket="$socket" \
    --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" \
    --seed-file="$state/munge/munged.seed"
# -i ignores the job state of an earlier start in the same folder.
slurmctld -i -f "$SLURM_CONF"
slurmd -N localhost -f "$SLURM_CONF"

# The node is usable once the controller reports it idle.
for _ in $(seq 1 60); do
    if sinfo --noheader --nodes=localhost --format=%t 2>/dev/null | grep -qx idle; then
        echo "SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 0.5
done
echo "the Slurm node did not become idle within 30 seconds; logs in $state/log" >&2
sinfo --Node --long >&2 || true
exit 1
