"""missrec check-model: exit 0 on every model fixture (pretraining, inductive and
transductive fine-tuning), 1 when a fixture's expected
numbers disagree, 2 on a file that is not a fixture."""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.join(os.environ["MISSREC_SOURCE_DIR"], "tests", "support"))
from script_check import check, failures, finish, run  # noqa: E402

FIXTURES = os.environ["MISSREC_FIXTURES"]
MODELS = ["missrec_forward_small.h5", "missrec_forward_full.h5", "missrec_inductive_ft.h5",
          "missrec_transductive_ft.h5"]
absent = [n for n in MODELS + ["dpc_knn_small.h5"]
          if not os.path.exists(os.path.join(FIXTURES, n))]
if absent:
    print(f"skipped: reference fixtures absent from {FIXTURES}: {', '.join(absent)}")
    sys.exit(77)

for name in MODELS:
    code, out, err = run(["check-model", "--fixture", os.path.join(FIXTURES, name)])
    check(f"{name}: passes", code == 0 and "0 failed" in out, out + err)
    print(out.strip().splitlines()[-1])

with tempfile.TemporaryDirectory() as tmp:
    wrong = os.path.join(tmp, "wrong.h5")
    shutil.copy(os.path.join(FIXTURES, "missrec_forward_small.h5"), wrong)
    os.chmod(wrong, 0o644)
    with h5py.File(wrong, "r+") as f:
        f["expected/loss_seq_seq"][()] = f["expected/loss_seq_seq"][()] * 1.01
    code, out, err = run(["check-model", "--fixture", wrong])
    check("a wrong expectation fails with exit 1", code == 1 and "FAIL loss_seq_seq" in out, out + err)
    shutil.copy(os.path.join(FIXTURES, "missrec_transductive_ft.h5"), wrong)
    with h5py.File(wrong, "r+") as f:
        f["expected/scores"][0, 3] += 0.01
    code, out, err = run(["check-model", "--fixture", wrong])
    check("a wrong fine-tuning score fails with exit 1", code == 1 and "FAIL scores" in out, out + err)
    code, out, err = run(["check-model", "--fixture", os.path.join(FIXTURES, "dpc_knn_small.h5")])
    check("not a model fixture: exit 2", code == 2 and "/config" in err, out + err)
    code, out, err = run(["check-model"])
    check("missing --fixture: exit 2", code == 2 and "--fixture" in err, err)

finish()
