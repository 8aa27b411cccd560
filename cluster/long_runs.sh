#!/usr/bin/env bash
# Runs a queue of grid chunks (one trial each) in lanes that survive stops of the machine:
# each chunk is started, or resumed from its last checkpoint where its experiment exists, and
# marked done when figure5.py says every trial reached its budget. docs/long-runs.md says how
# to use it; in short, from a clone of a fixed commit with its own venv (`make test` or
# `make .venv/.installed`), outside any checkout you edit:
#
#   cluster/long_runs.sh cluster/queues/figure5-paper.txt ~/rllib-iam-runs        # 2 lanes
#   cluster/long_runs.sh cluster/queues/figure5-paper.txt ~/rllib-iam-runs 1      # 1 lane
#
# A queue file holds one chunk per line, `NAME FLAGS...` (figure5.py's flags; `#` comments).
# Everything lands in STORAGE: the experiments, `logs/NAME.log` per chunk, `.done/NAME` per
# finished chunk, `.failed/NAME` for a chunk that failed twice (left for a person to read), and
# `lanes.pid`. Running it again while its lanes live is refused; after a stop it starts over
# where the chunks stood (their claims are stale then and are cleared).
set -euo pipefail

usage="usage: $0 QUEUE_FILE STORAGE [LANES]"
queue=${1:?$usage}
storage=${2:?$usage}
lanes=${3:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
python="$here/.venv/bin/python"
[ -f "$queue" ] || { echo "$0: error: no queue file $queue" >&2; exit 2; }
[ -x "$python" ] || { echo "$0: error: no $python: run make .venv/.installed in $here" >&2; exit 2; }
[[ "$lanes" =~ ^[1-9][0-9]*$ ]] || { echo "$0: error: LANES must be an integer >= 1, got $lanes" >&2; exit 2; }
mkdir -p "$storage/logs" "$storage/.done" "$storage/.failed"
storage=$(cd "$storage" && pwd)
queue=$(cd "$(dirname "$queue")" && pwd)/$(basename "$queue")

if [ -f "$storage/lanes.pid" ]; then
    for pid in $(cat "$storage/lanes.pid"); do
        if kill -0 "$pid" 2>/dev/null; then
            echo "$0: error: lanes already running in $storage (pid $pid)" >&2
            exit 2
        fi
    done
fi
rm -rf "$storage/.claims"  # claims of lanes that a stop ended
mkdir -p "$storage/.claims"

lane() {
    local id=$1 name flags status
    while read -r name flags; do
        [ -z "$name" ] || [[ "$name" == \#* ]] && continue
        [ -e "$storage/.done/$name" ] || [ -e "$storage/.failed/$name" ] && continue
        mkdir "$storage/.claims/$name" 2>/dev/null || continue  # another lane has it
        for attempt in 1 2; do
            {
                echo "=== lane $id, attempt $attempt, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git -C "$here" rev-parse --short HEAD)"
            } >> "$storage/logs/$name.log"
            if [ -d "$storage/$name" ]; then
                set -- --name "$name" --storage-path "$storage" --resume --no-analysis
            else
                # shellcheck disable=SC2086  # the flags are words
                set -- $flags --name "$name" --storage-path "$storage" --max-concurrent 1 --no-analysis
            fi
            status=0
            (cd "$here" && "$python" experiments/figure5.py "$@") >> "$storage/logs/$name.log" 2>&1 || status=$?
            if [ "$status" -eq 0 ]; then
                date -u '+%Y-%m-%d %H:%M:%S UTC' > "$storage/.done/$name"
                break
            elif [ "$attempt" -eq 2 ]; then
                echo "exit $status twice; see logs/$name.log" > "$storage/.failed/$name"
            fi
        done
    done < "$queue"
}

pids=()
for id in $(seq 1 "$lanes"); do
    lane "$id" &
    pids+=($!)
    sleep 20  # the lanes' Ray instances start one after the other
done
echo "${pids[@]}" > "$storage/lanes.pid"
echo "lanes ${pids[*]} running the queue $queue in $storage"
wait
