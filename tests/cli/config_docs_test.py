"""docs/configuration.md is what `missrec config docs` prints: every configuration key
(type, default, allowed values, meaning) and every command's options. Fails, saying how
to regenerate it, when the file is stale."""
import difflib
import os
import sys

sys.path.insert(0, os.path.join(os.environ["MISSREC_SOURCE_DIR"], "tests", "support"))
from script_check import check, finish, run  # noqa: E402

path = os.path.join(os.environ["MISSREC_SOURCE_DIR"], "docs", "configuration.md")
code, generated, err = run(["config", "docs"])
check("config docs exits 0", code == 0, err)
on_disk = open(path).read() if os.path.exists(path) else ""
diff = "".join(list(difflib.unified_diff(on_disk.splitlines(True), generated.splitlines(True),
                                         "docs/configuration.md", "missrec config docs"))[:40])
check("docs/configuration.md is current (regenerate: build/missrec config docs > docs/configuration.md)",
      generated == on_disk, diff)
for key in ("`run.device`", "`train.precision`", "`cluster.memory_mb`", "`missrec pretrain`", "`--resume"):
    check(f"the reference names {key}", key in generated)
finish()
