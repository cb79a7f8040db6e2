#!/usr/bin/env bash
# Benchmark LCE .tflite files on a Raspberry Pi (or any ssh-reachable ARM board) with
# lce_benchmark_model: the shell twin of `dwr-larq benchmark --remote USER@HOST`.
#
#   scripts/benchmark_rpi.sh [-b BINARY] [-t 1,2,4] [-r RUNS] [-w WARMUP] [-k bgemm|indirect|reference] \
#       [-d REMOTE_DIR] [-o LOG_DIR] USER@HOST MODEL.tflite...
#
# Copies each model with scp, runs `BINARY --graph=... --num_threads=N --num_runs=RUNS
# --warmup_runs=WARMUP` (plus --use_indirect_bgemm=true or --use_reference_bconv=true for -k)
# over ssh for every thread count, keeps the raw logs in LOG_DIR and
# prints one tab-separated line per model and thread count (times in ms, memory in MB;
# median is lce_benchmark_model's median= when it prints one, else its average).
# Make .tflite files with `dwr-larq convert NAME -o NAME.tflite`.
set -euo pipefail

binary=lce_benchmark_model
threads="1"
runs=20
warmup=3
remote_dir=/tmp/dwr-larq-benchmark
log_dir=""
kernel_flag=""

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "error: $*" >&2; exit 1; }

while getopts "b:t:r:w:k:d:o:h" option; do
    case "$option" in
        b) binary=$OPTARG ;;
        t) threads=${OPTARG//,/ } ;;
        r) runs=$OPTARG ;;
        w) warmup=$OPTARG ;;
        k) case "$OPTARG" in
               bgemm) kernel_flag="" ;;
               indirect) kernel_flag=" --use_indirect_bgemm=true" ;;
               reference) kernel_flag=" --use_reference_bconv=true" ;;
               *) die "-k must be bgemm, indirect or reference, got '$OPTARG'" ;;
           esac ;;
        d) remote_dir=$OPTARG ;;
        o) log_dir=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
target=$1
shift

for n in $threads; do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "thread counts must be integers >= 1, got '$n'"
done
for value in "$runs" "$warmup"; do
    [[ $value =~ ^[0-9]+$ ]] && [ "$value" -ge 1 ] || die "-r and -w must be integers >= 1, got '$value'"
done
for model in "$@"; do
    [ -f "$model" ] || die "$model: no such file"
    [ "$(head -c 8 "$model" | tail -c 4)" = "TFL3" ] || die "$model: not a TFLite flatbuffer"
done
log_dir=${log_dir:-$(mktemp -d "${TMPDIR:-/tmp}/benchmark_rpi.XXXXXX")}
mkdir -p "$log_dir"

ssh_options=(-o BatchMode=yes -o ConnectTimeout=10)
# A leading ~/ must stay expandable on the device: write it as "$HOME"/...
remote_binary=${binary/#\~\//\$HOME/}
remote_dir=${remote_dir/#\~\//\$HOME/}

on_device() {
    local status=0
    ssh "${ssh_options[@]}" "$target" "$1" || status=$?
    if [ "$status" -eq 255 ]; then
        die "cannot reach $target over ssh (check the address, the network and your ssh key)"
    fi
    return "$status"
}

on_device "test -x \"$remote_binary\" || command -v \"$remote_binary\" >/dev/null 2>&1" \
    || die "$binary not found on $target; copy LCE's lce_benchmark_model there and pass its path with -b"
on_device "mkdir -p \"$remote_dir\""

printf 'model\tthreads\truns\tmedian_ms\tavg_ms\tmin_ms\tpeak_mb\n'
for model in "$@"; do
    name=$(basename "$model")
    scp -q "${ssh_options[@]}" "$model" "$target:${remote_dir/#\$HOME\//}/$name" \
        || die "scp of $model to $target failed"
    for n in $threads; do
        log="$log_dir/${name%.tflite}-t$n.log"
        on_device "\"$remote_binary\" --graph=\"$remote_dir/$name\" --num_threads=$n --num_runs=$runs --warmup_runs=$warmup$kernel_flag 2>&1" \
            >"$log" || true
        awk -v model="${name%.tflite}" -v threads="$n" '
            function field(line, key,    m) {
                if (match(line, key "=[-+0-9.eE]+")) return substr(line, RSTART + length(key) + 1, RLENGTH - length(key) - 1) + 0
                return ""
            }
            /count=[0-9]+ .*avg=/ { stats = $0 }
            /Inference timings in us:/ { done = 1 }
            /Overall peak memory footprint \(MB\)/ { peak = $NF }
            /Memory footprint delta from the start of the tool/ { if (peak == "") delta = field($0, "overall") }
            /ERROR|Error/ { error = $0 }
            END {
                if (!done) { printf "error: %s (%s threads): %s\n", model, threads, (error ? error : "no benchmark result") > "/dev/stderr"; exit 1 }
                median = field(stats, "median"); if (median == "") median = field(stats, "avg")
                printf "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%s\n", model, threads, field(stats, "count"), median / 1000,
                    field(stats, "avg") / 1000, field(stats, "min") / 1000, (peak != "" ? peak : delta)
            }' "$log" || failed=1
    done
done
echo "raw logs: $log_dir" >&2
exit "${failed:-0}"
