# Sourced by the launchers (launch/mpirun.sh, the sbatch files, scripts/demo.sh,
# scripts/test.sh, scripts/bench.sh): the BLAS and OpenMP settings a missrec process
# wants, exported before it starts, because OpenBLAS and libgomp read them when they load.
# A value the user has set is kept. `missrec` warns (rank 0, once) when one that
# matters is missing.
#
# * OPENBLAS_CORETYPE: the kernels OpenBLAS uses. Debian 12's OpenBLAS (0.3.21) does not
#   know recent CPUs (e.g. Sapphire Rapids) and falls back to its SSE3 kernels; SkylakeX
#   (AVX-512) or Haswell (AVX2) names the widest kernels the CPU runs.
# * OPENBLAS_THREAD_TIMEOUT=12: idle BLAS threads sleep after 4096 cycles instead of
#   spinning for 2^28, which would take cores from the OpenMP code between GEMMs.
# * GOMP_SPINCOUNT=10000: idle OpenMP threads spin briefly, then sleep (unless
#   OMP_WAIT_POLICY is set). docs/performance.md has the measurements.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
  missrec_cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  case "$missrec_cpu_flags" in
    *" avx512f "*) case "$missrec_cpu_flags" in *" avx512bw "*) case "$missrec_cpu_flags" in
      *" avx512vl "*) export OPENBLAS_CORETYPE=SkylakeX ;; esac ;; esac ;;
  esac
  if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    case "$missrec_cpu_flags" in *" avx2 "*) case "$missrec_cpu_flags" in
      *" fma "*) export OPENBLAS_CORETYPE=Haswell ;; esac ;; esac
  fi
  unset missrec_cpu_flags
fi
if [ -z "${OPENBLAS_THREAD_TIMEOUT:-}" ] && [ -z "${GOTO_THREAD_TIMEOUT:-}" ]; then
  export OPENBLAS_THREAD_TIMEOUT=12
fi
if [ -z "${OMP_WAIT_POLICY:-}" ] && [ -z "${GOMP_SPINCOUNT:-}" ]; then
  export GOMP_SPINCOUNT=10000
fi
