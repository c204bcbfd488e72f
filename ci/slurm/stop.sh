#!/usr/bin/env bash
# Stops the daemons that ci/slurm/start.sh STATE_DIR started, by the process ids in their pid
# files, and waits up to ten seconds for them to exit.
set -uo pipefail

if (($# != 1)); then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
pids=()
for daemon in slurmd slurmctld munged; do
    file=$1/$daemon.pid
    [[ -f $file ]] || continue
    pid=$(<"$file")
    if [[ $pid =~ ^[0-9]+$ ]] && kill "$pid" 2>/dev/null; then
        pids+=("$pid")
    fi
done
for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive=1
    done
    ((alive)) || exit 0
    sleep 0.2
done
echo "daemons still running after 10 seconds: ${pids[*]}" >&2
exit 1
