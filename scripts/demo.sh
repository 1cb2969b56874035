#!/usr/bin/env bash
# The README's main command: installs the dependencies, builds, synthesizes the demo
# dataset, pretrains on 2 MPI ranks (an interest refresh every epoch), exports the
# model for PyTorch and for fine-tuning, fine-tunes the downstream domain from the
# pretrained export and from scratch, prints both metric rows, plots the metrics and
# says where everything is.
#
#   scripts/demo.sh [--skip-setup] [--ranks N] [--epochs E] [--run-dir DIR]
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=launch/env.sh
. launch/env.sh
skip_setup=0
ranks=2
epochs=3
run_dir=runs/demo
build_dir=build
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-setup) skip_setup=1; shift ;;
    --ranks) ranks="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --run-dir) run_dir="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "demo.sh: error: unknown option '$1'" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - start )) s] $*"; }

if [ "$skip_setup" -eq 0 ]; then
  step "installing dependencies (scripts/setup.sh)"
  scripts/setup.sh
fi

# Builds missrec showing the build's percentage; on failure prints the compiler's errors
# and stops (an older binary is never used).
build() {
  local log="$build_dir/demo-build.log" status=0 pid
  mkdir -p "$build_dir"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    cmake --build "$build_dir" --target missrec -j "$(nproc)" >>"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      printf '\r  %s' "$(grep -oE '^\[ *[0-9]+%\]' "$log" | tail -1 || true)"
      sleep 2
    done
    wait "$pid" || status=$?
    printf '\r  %s\n' "$(grep -oE '^\[ *[0-9]+%\]' "$log" | tail -1 || true)"
  fi
  if [ "$status" -ne 0 ]; then
    grep -E -A4 "error|Error" "$log" | head -60 >&2 || tail -40 "$log" >&2
    echo "demo.sh: error: the build failed (exit $status; the whole log: $log)" >&2
    exit 1
  fi
}

step "building $build_dir/missrec"
build
missrec="$build_dir/missrec"

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
step "fine-tuning data/demo/downstream from the pretrained export and from scratch (configs/tiny_finetune.yaml)"
for init in pretrained scratch; do
  extra=()
  [ "$init" = pretrained ] && extra=(--pretrained "$run_dir/missrec.h5")
  MISSREC_BIN="$missrec" launch/mpirun.sh -n "$ranks" finetune --config configs/tiny_finetune.yaml \
    --data data/demo/downstream --set "run.dir=$run_dir/finetune-$init" "${extra[@]}" 2>&1 |
    grep -E "fine-tuning on|epoch [0-9]+/|early stop|test \(" || true
  [ -f "$run_dir/finetune-$init/test_metrics.json" ] || { echo "demo.sh: error: fine-tuning ($init) failed" >&2; exit 1; }
done

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
echo
"$python" - "$run_dir" <<'PY'
import json, os, sys
rows = {init: json.load(open(os.path.join(sys.argv[1], f"finetune-{init}", "test_metrics.json")))
        for init in ("pretrained", "scratch")}
print("downstream test (data/demo/downstream, full ranking)")
print(f"{'':12}{'Recall@10':>11}{'NDCG@10':>10}{'Recall@50':>11}{'NDCG@50':>10}{'users':>7}")
for init, m in rows.items():
    print(f"{init:12}{m['recall@10']:11.4f}{m['ndcg@10']:10.4f}{m['recall@50']:11.4f}{m['ndcg@50']:10.4f}{m['users']:7d}")
gain = rows["pretrained"]["recall@10"] - rows["scratch"]["recall@10"]
print(f"pretraining {'helps' if gain > 0 else 'does not help'} at Recall@10 ({gain:+.4f})")
PY
cat <<EOF2
run directory     $run_dir
  config          $run_dir/config.yaml
  metrics         $run_dir/metrics.jsonl   (plots in $run_dir/plots/)
  checkpoints     $run_dir/checkpoints/latest -> $(readlink "$run_dir/checkpoints/latest")
  PyTorch export  $run_dir/missrec.pth     (torch.load; state_dict with the public implementation's names)
  native export   $run_dir/missrec.h5      (for fine-tuning)
  fine-tuning     $run_dir/finetune-{pretrained,scratch}/{best.h5,test_metrics.json,metrics.jsonl}
resume            launch/mpirun.sh -n $ranks pretrain --config configs/tiny.yaml --set run.dir=$run_dir --set train.epochs=$((epochs + 1)) --resume latest
EOF2
