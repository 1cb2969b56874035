#!/usr/bin/env bash
# The GPU check: run on a GPU machine (one GPU, Python with torch 2.11 for CUDA 13, no
# MPI/HDF5/yaml-cpp/glog) over the repository and the archive scripts/gpu_prepare.sh
# gathered (.gpu/bundle.tar.xz: missrec built against PyPI's torch 2.11, the libraries
# and the Open MPI launcher it needs), unpacked into a temporary folder. Writes one JSON (gpu_check.json in $OUT, else in the current
# folder) with each step's exit status, seconds and output, rewritten after every step
# so a cut-short run still reports what it did. Under 8 minutes in all (each step has
# its own limit).
#
#   scripts/gpu_check.sh [--bundle DIR] [--out DIR] [--quick] [--device cpu|cuda]
#
#   --quick        smaller benchmark shapes (a rehearsal on a machine without a GPU)
#   --device cpu   every step on the CPU but the NCCL one (a rehearsal: all but CUDA)
# PYTHON (default python3) is the interpreter whose torch supplies LibTorch.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle_dir=$root/.gpu
out=${OUT:-$PWD}
quick=0
device=cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle_dir=$(cd "$2" && pwd); shift ;;
    --out) out="$2"; shift ;;
    --quick) quick=1 ;;
    --device) device="$2"; shift ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "scripts/gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
python=${PYTHON:-python3}
[ -f "$bundle_dir/bundle.tar.xz" ] || { echo "gpu_check: no $bundle_dir/bundle.tar.xz (run scripts/gpu_prepare.sh)" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d /tmp/missrec_gpu_check.XXXXXX)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
mkdir -p "$bundle"
tar -C "$bundle" -xJf "$bundle_dir/bundle.tar.xz"
steps="$work/steps"
mkdir -p "$steps"
started=$(date +%s)

# The machine's torch supplies LibTorch and the CUDA libraries; the bundle the rest.
torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
site_packages=$(dirname "$(dirname "$torch_lib")")
nvidia_dirs=$(find "$site_packages/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
export LD_LIBRARY_PATH="$bundle/lib:$torch_lib:$nvidia_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPAL_PREFIX="$bundle/openmpi"
export PMIX_INSTALL_PREFIX="$bundle/openmpi/lib/x86_64-linux-gnu/pmix2"
export PMIX_MCA_mca_base_component_path="$PMIX_INSTALL_PREFIX/lib/pmix"
# One host: shared memory between the ranks, no single-copy kernel support assumed
# (sandboxed kernels lack it), no fabric probing.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_pml=ob1 OMPI_MCA_plm=isolated
missrec="$bundle/bin/missrec"
mpirun=("$bundle/openmpi/bin/mpirun" --allow-run-as-root --oversubscribe)

# step NAME LIMIT_S COMMAND...: runs it, keeps exit status, seconds, the last JSON line
# of its output (if any) and its output's tail, then rewrites the report.
step() {
  local name=$1 limit=$2
  shift 2
  local t0 t1 code
  echo "gpu_check: $name" >&2
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" >"$steps/$name.out" 2>&1
  code=$?
  t1=$(date +%s.%N)
  printf '%s %s %s\n' "$code" "$t0" "$t1" >"$steps/$name.status"
  report
  return 0
}

report() {
  "$python" - "$steps" "$out/gpu_check.json" "$started" <<'PY'
import json, os, sys, time
steps_dir, path, started = sys.argv[1], sys.argv[2], float(sys.argv[3])
result = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
          "elapsed_s": round(time.time() - started, 1), "steps": {}}
names = sorted((os.path.getmtime(os.path.join(steps_dir, f)), f[:-7])
               for f in os.listdir(steps_dir) if f.endswith(".status"))
for _, name in names:
    code, t0, t1 = open(os.path.join(steps_dir, name + ".status")).read().split()
    text = open(os.path.join(steps_dir, name + ".out"), errors="replace").read()
    entry = {"exit": int(code), "seconds": round(float(t1) - float(t0), 2),
             "timed_out": int(code) in (124, 137)}
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                entry["json"] = json.loads(line)
                break
            except ValueError:
                pass
    entry["tail"] = text[-1500:]
    result["steps"][name] = entry
result["passed"] = all(s["exit"] == 0 for s in result["steps"].values())
with open(path + ".tmp", "w") as f:
    json.dump(result, f, indent=1)
os.replace(path + ".tmp", path)
PY
}

if [ "$quick" -eq 1 ]; then
  batch=256; cluster_small=4000; cluster_large=20000
else
  batch=4096; cluster_small=100000; cluster_large=894000
fi

step machine 20 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; \
  ldd --version | head -1; \"$python\" -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.is_available())'"
step version 30 "$missrec" version
for fixture in missrec_forward_small missrec_forward_full; do
  step "check_model_$fixture" 60 "$missrec" check-model --fixture "$root/tests/fixtures/$fixture.h5" --device "$device"
done
step comm_check_nccl_np1 60 "${mpirun[@]}" -np 1 "$missrec" comm-check --json --max-bytes 256M \
  --set dist.backend=nccl --set run.device=cuda
step comm_check_mpi_np2_shared_gpu 90 "${mpirun[@]}" -np 2 "$missrec" comm-check --json --max-bytes 64M \
  --set dist.backend=mpi --set "run.device=$device"
# One demo pretraining epoch on the GPU, its export, and torch.load of the export.
step demo_pretrain_epoch 150 bash -c "cd '$work' && '$missrec' data synth --preset demo --out demo >/dev/null && \
  ${mpirun[*]} -np 1 '$missrec' pretrain --config '$root/configs/tiny.yaml' --set data.dir=demo/pretrain \
    --set run.dir=run --set train.epochs=1 --set run.device=$device && \
  '$missrec' export --checkpoint run --format pytorch --out run/missrec.pth && \
  '$python' -c \"import json, torch; e = torch.load('run/missrec.pth', map_location='cpu'); \
    sd = e['state_dict']; print(json.dumps({'torch_load': 'ok', 'tensors': len(sd), \
    'values': sum(v.numel() for v in sd.values()), 'epoch': e.get('epoch')}))\""
# bf16 against fp32 on the GPU: one demo pretraining epoch each; the losses must differ
# (bf16 is real) by at most 2 %.
step bf16_vs_fp32_demo_epoch 300 "$python" "$root/scripts/precision_check.py" --missrec "$missrec" \
  --device "$device" --work "$work/precision" --mpirun "${mpirun[*]} -np 1"
for precision in fp32 bf16; do
  step "bench_train_${precision}_b$batch" 120 "${mpirun[@]}" -np 1 "$missrec" bench train --batch "$batch" \
    --lengths demo --steps 10 --set "run.device=$device" --set "train.precision=$precision"
done
step "bench_cluster_n$cluster_small" 90 "${mpirun[@]}" -np 1 "$missrec" bench cluster --n "$cluster_small" --no-baseline --set "run.device=$device"
step "bench_cluster_n$cluster_large" 150 "${mpirun[@]}" -np 1 "$missrec" bench cluster --n "$cluster_large" --no-baseline --set "run.device=$device"
report
echo "gpu_check: $out/gpu_check.json ($(( $(date +%s) - started )) s)" >&2
"$python" -c "import json, sys; r = json.load(open(sys.argv[1])); \
  [print(f\"{'ok  ' if s['exit'] == 0 else 'FAIL'} {n} ({s['seconds']} s)\") for n, s in r['steps'].items()]" \
  "$out/gpu_check.json"
