#!/usr/bin/env bash
# Rehearses the GPU check on this machine, which has no GPU: runs scripts/gpu_check.sh
# --quick with the torch of .venv-torch (PyPI's, the GPU machine's version) in a private
# mount namespace where this machine's Open MPI, PMIx and hwloc installations are hidden, and
# with the dynamic loader's log on. Then every library that missrec, mpirun and orted
# loaded must come from the bundle, that torch, or glibc: anything else (a library the
# GPU machine lacks) fails the rehearsal, naming it. Every step runs on the CPU except
# the NCCL one, which needs a GPU and fails here; the rest must pass. Needs root (unshare) and scripts/gpu_prepare.sh's bundle.
#
#   scripts/gpu_rehearse.sh [--out DIR]       # default out/gpu_rehearsal
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/gpu_rehearsal
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "scripts/gpu_rehearse.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "gpu_rehearse: needs root (a private mount namespace)" >&2; exit 2; }
[ -f .gpu/bundle.tar.xz ] || { echo "gpu_rehearse: no .gpu/bundle.tar.xz (run scripts/gpu_prepare.sh)" >&2; exit 2; }
torch_root=$(scripts/cuda_torch.sh)
venv=$(cd "$torch_root/../../../.." && pwd)
rm -rf "$out"
mkdir -p "$out/loader"
out=$(cd "$out" && pwd)

arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
hidden=("/usr/lib/$arch/openmpi" "/usr/lib/$arch/pmix2" "/usr/lib/$arch/hwloc" /usr/share/openmpi /usr/share/pmix
        /usr/share/hwloc /etc/openmpi)
unshare --mount --propagation private bash -c '
  set -e
  for path in "$@"; do [ -e "$path" ] && mount -t tmpfs -o ro,size=1k none "$path"; done
  exec env LD_DEBUG=libs LD_DEBUG_OUTPUT="'"$out"'/loader/ld" PYTHON="'"$venv"'/bin/python" \
    scripts/gpu_check.sh --quick --device cpu --out "'"$out"'"
' rehearsal "${hidden[@]}" || true

# Which program each loader log belongs to, and what it loaded.
"$venv/bin/python" - "$out" "$venv" <<'PY'
import glob, json, os, re, sys
out, venv = sys.argv[1], sys.argv[2]
allowed_prefixes = ("/tmp/missrec_gpu_check.", venv)
glibc = re.compile(r"/(ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libutil|libresolv)\.so")
watched = ("missrec", "orterun", "orted", "mpirun")
offending, programs = {}, {}
for path in glob.glob(os.path.join(out, "loader", "ld.*")):
    text = open(path, errors="replace").read()
    program = re.search(r"initialize program: (\S+)", text)
    name = os.path.basename(program.group(1)) if program else "?"
    if name not in watched:
        continue
    programs[name] = programs.get(name, 0) + 1
    for lib in set(re.findall(r"calling init: (\S+)", text)):
        real = os.path.realpath(lib)
        if real.startswith(allowed_prefixes) or lib.startswith(allowed_prefixes) or glibc.search(lib):
            continue
        offending.setdefault(lib, set()).add(name)
report_path = os.path.join(out, "gpu_check.json")
report = json.load(open(report_path)) if os.path.exists(report_path) else {"steps": {}}
report["rehearsal"] = {"processes_audited": programs,
                       "libraries_from_outside_the_bundle": {k: sorted(v) for k, v in sorted(offending.items())}}
json.dump(report, open(report_path, "w"), indent=1)
for name, step in report["steps"].items():
    print(f"{'ok  ' if step['exit'] == 0 else 'FAIL'} {name} ({step['seconds']} s)")
print("audited processes:", programs)
if offending:
    print("libraries the GPU machine may lack, loaded from this machine:")
    for lib, who in sorted(offending.items()):
        print(f"  {lib} (by {', '.join(sorted(who))})")
    sys.exit(1)
print("every library came from the bundle, torch or glibc")
PY
