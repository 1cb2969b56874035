#!/usr/bin/env bash
# The README's main command: installs the dependencies, builds, synthesizes the demo
# dataset, pretrains on 2 MPI ranks (an interest refresh every epoch), exports the
# model for PyTorch and for fine-tuning, plots the metrics and says where everything is.
#
#   scripts/demo.sh [--skip-setup] [--ranks N] [--epochs E] [--run-dir DIR]
set -euo pipefail

cd "$(dirname "$0")/.."
skip_setup=0
ranks=2
epochs=2
run_dir=runs/demo
build_dir=build
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-setup) skip_setup=1; shift ;;
    --ranks) ranks="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --run-dir) run_dir="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "demo.sh: error: unknown option '$1'" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - start )) s] $*"; }

if [ "$skip_setup" -eq 0 ]; then
  step "installing dependencies (scripts/setup.sh)"
  scripts/setup.sh
fi

step "building $build_dir/missrec"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" --target missrec -j "$(nproc)" | grep -E "error|Built target missrec$" || true
missrec="$build_dir/missrec"
[ -x "$missrec" ] || { echo "demo.sh: error: the build failed" >&2; exit 1; }

step "synthesizing the demo dataset (data/demo)"
if [ -f data/demo/pretrain/dataset.yaml ] && "$missrec" data inspect data/demo/pretrain >/dev/null 2>&1; then
  echo "data/demo already present and valid"
else
  rm -rf data/demo
  "$missrec" data synth --preset demo --out data/demo
fi
"$missrec" data inspect data/demo/pretrain | head -8

step "pretraining on $ranks MPI ranks for $epochs epochs (configs/tiny.yaml)"
rm -rf "$run_dir"
MISSREC_BIN="$missrec" launch/mpirun.sh -n "$ranks" pretrain --config configs/tiny.yaml \
  --set "train.epochs=$epochs" --set "run.dir=$run_dir" --set train.log_every=50

step "exporting"
"$missrec" export --checkpoint "$run_dir" --format pytorch --out "$run_dir/missrec.pth"
"$missrec" export --checkpoint "$run_dir" --format native --out "$run_dir/missrec.h5"

python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
if "$python" -c "import torch" 2>/dev/null; then
  step "loading the PyTorch export with torch.load"
  "$python" - "$run_dir/missrec.pth" <<'PY'
import sys, torch
model = torch.load(sys.argv[1])
print(f"{sys.argv[1]}: epoch {model['epoch']}, {len(model['state_dict'])} tensors, "
      f"hidden_size {model['config']['hidden_size']}, "
      f"{model['interests']['interest_embeddings'].shape[0] - 1} interests")
PY
fi
if "$python" -c "import matplotlib" 2>/dev/null; then
  step "plotting metrics"
  "$python" scripts/plot_metrics.py "$run_dir"
fi

step "done in $(( $(date +%s) - start )) s"
"$python" - "$run_dir/metrics.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "epoch":
        print(f"epoch {r['epoch']}: loss {r['loss']:.4f} (L_si {r['seq_item']:.4f}), "
              f"{r['samples_per_s']:.0f} samples/s, refresh {r['refresh_s']:.1f} s")
PY
cat <<EOF2
run directory     $run_dir
  config          $run_dir/config.yaml
  metrics         $run_dir/metrics.jsonl   (plots in $run_dir/plots/)
  checkpoints     $run_dir/checkpoints/latest -> $(readlink "$run_dir/checkpoints/latest")
  PyTorch export  $run_dir/missrec.pth     (torch.load; state_dict with the SPEC §3 names)
  native export   $run_dir/missrec.h5      (for fine-tuning)
resume            launch/mpirun.sh -n $ranks pretrain --config configs/tiny.yaml --set run.dir=$run_dir --set train.epochs=$((epochs + 1)) --resume latest
EOF2
