"""missrec cluster at np=2 on N=60,000 tokens of D=300 with a small cluster.memory_mb:
peak memory per rank stays within process baseline + tokens + budget, and the result
equals a large-budget run (centers and assignments exactly; distance tiles depend on N
only, so floats agree bit for bit too)."""
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = os.environ["MISSREC_BIN"]
MPIEXEC = os.environ.get("MISSREC_MPIEXEC", "mpirun")
N, D, K, k = 60000, 300, 1200, 600
SMALL_MB = 64


def cluster(tokens, clusters, knn_k, memory_mb, out):
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "2", BIN, "cluster",
           "--tokens", tokens, "--clusters", str(clusters), "--knn-k", str(knn_k),
           "--set", f"cluster.memory_mb={memory_mb}", "--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    peaks = [float(m) for m in re.findall(r"peak memory (\d+) MB", proc.stdout)]
    assert len(peaks) == 2, proc.stdout
    return max(peaks)


with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(1)
    # Process baseline: the same command on a tiny input.
    with h5py.File(f"{tmp}/tiny_tokens.h5", "w") as f:
        f["tokens"] = rng.standard_normal((500, 16)).astype("f4")
    baseline = cluster(f"{tmp}/tiny_tokens.h5", 10, 8, SMALL_MB, f"{tmp}/tiny.h5")
    means = rng.standard_normal((200, D)).astype("f4") * 2
    tokens = means[rng.integers(0, 200, N)] + rng.standard_normal((N, D)).astype("f4")
    with h5py.File(f"{tmp}/tokens.h5", "w") as f:
        f["tokens"] = tokens
    token_mb = tokens.nbytes / 2**20
    small = cluster(f"{tmp}/tokens.h5", K, k, SMALL_MB, f"{tmp}/small.h5")
    large = cluster(f"{tmp}/tokens.h5", K, k, 1024, f"{tmp}/large.h5")
    # Slack for what the budget does not govern: OpenBLAS's packing buffers (touched more
    # by large GEMMs than by the tiny baseline run) and allocator fragmentation.
    slack = 96
    limit = baseline + token_mb + SMALL_MB + slack
    print(f"peak per rank: small budget {small:.0f} MB (limit {limit:.0f} = baseline {baseline:.0f}"
          f" + tokens {token_mb:.0f} + budget {SMALL_MB} + {slack}), large budget {large:.0f} MB")
    assert small <= limit, "the small budget was not respected"
    with h5py.File(f"{tmp}/small.h5") as a, h5py.File(f"{tmp}/large.h5") as b:
        for name in ["center_index", "cluster_index"]:
            assert np.array_equal(a["expected"][name][:], b["expected"][name][:]), name
        for name in ["density", "delta", "score", "centroids"]:
            x, y = a["expected"][name][:], b["expected"][name][:]
            err = np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-6))
            print(f"{name}: max relative difference {err:.2e}")
            assert err <= 1e-5, name
print("ok")
