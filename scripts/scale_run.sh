#!/usr/bin/env bash
# A paper-scale pretraining run on this machine: synthesizes a paper-shaped dataset (five
# domains, 100,000 x SCALE items: 447,000 at the default, float16 features), then for
# each rank count and feature sharding pretrains with configs/pretrain.yaml (the paper's
# model, batch 4096, the sampled refresh at N = 2 x items tokens) for STEPS steps and a
# checkpoint, resumes it for 10 more steps, and writes one JSON line per run with the
# refresh time, the step rate, every rank's feature bytes and peak RSS (scale_run.json
# in OUT).
#
#   scripts/scale_run.sh [--scale 4.47] [--ranks "2 4"] [--sharding "sharded replicated"]
#                        [--steps 200] [--out runs/scale]
#
# The data stays in OUT/data between runs. Expect hours at the default scale on 2 cores;
# --scale 0.05 --steps 5 checks the script in minutes.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."
# shellcheck source=launch/env.sh
. launch/env.sh

scale=4.47
ranks="2 4"
sharding="sharded replicated"
steps=200
out=runs/scale
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift ;;
    --ranks) ranks="$2"; shift ;;
    --sharding) sharding="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "scripts/scale_run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
bin=${MISSREC_BIN:-build/missrec}
[ -x "$bin" ] || { echo "scripts/scale_run.sh: $bin not built (run scripts/test.sh first)" >&2; exit 2; }
mkdir -p "$out"
if [ ! -f "$out/data/dataset.yaml" ]; then
  echo "scale_run: synthesizing $out/data (scale $scale)" >&2
  "$bin" data synth --preset pretrain --scale "$scale" --float16 --out "$out/data"
fi
"$bin" data inspect "$out/data" | head -8 >&2

# One JSON line from a run's log and metrics: refresh times, the median step rate, every
# rank's feature bytes, every rank's peak RSS for the run and for the resume.
summary() {
  /usr/bin/python3 - "$1" "$2" "$3" "$4" "$5" <<'PY'
import json, re, sys
log, metrics, ranks, steps, sharding = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
text = open(log).read()
shares = [int(x) for x in re.findall(r"item features sharded: ids .*? on rank \d+, (\d+) bytes", text)][:ranks]
replicated = re.search(r"item features replicated \((\d+) bytes\)", text)
feature_bytes = shares if shares else [int(replicated.group(1))] * ranks if replicated else None
refresh = [float(x) for x in re.findall(r"interest refresh \(DPC-KNN.*?\) took ([0-9.]+) s", text)]
peaks = [[float(x) for x in line.split()] for line in re.findall(r"peak RSS per rank \(MB\):((?: [0-9]+)+)", text)]
lines = [json.loads(l) for l in open(metrics)]
step_lines = [l for l in lines if l["kind"] == "step"]
rate = [l["samples_per_s"] for l in step_lines[1:]]
print(json.dumps({"ranks": ranks, "sharding": sharding, "steps": steps, "refresh_s": refresh,
                  "feature_bytes_per_rank": feature_bytes,
                  "samples_per_s_median": sorted(rate)[len(rate) // 2] if rate else None,
                  "peak_rss_mb_per_rank": peaks,  # one list per run: the steps, the resume
                  "checkpoints": [l["dir"] for l in lines if l["kind"] == "checkpoint"]}))
PY
}

for np in $ranks; do
  for mode in $sharding; do
    run_dir="$out/np$np-$mode"
    rm -rf "$run_dir"
    common=(--config configs/pretrain.yaml --set "data.dir=$out/data" --set "run.dir=$run_dir"
            --set data.feature_dtype=float16 --set "data.feature_sharding=$mode" --set cluster.method=sampled
            --set train.log_every=10)
    echo "scale_run: np=$np, features $mode, $steps steps" >&2
    launch/mpirun.sh -n "$np" pretrain "${common[@]}" --set "train.max_steps=$steps" > "$run_dir.log" 2>&1
    echo "scale_run: np=$np, features $mode, resuming for 10 steps" >&2
    launch/mpirun.sh -n "$np" pretrain "${common[@]}" --set "train.max_steps=$((steps + 10))" --resume latest \
      >> "$run_dir.log" 2>&1
    summary "$run_dir.log" "$run_dir/metrics.jsonl" "$np" "$steps" "$mode" | tee -a "$out/scale_run.json"
  done
done
