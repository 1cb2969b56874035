"""Every script's --help prints its own usage and does nothing else: exit 0, the script's
name in the text (its usage line), the whole header comment for shell scripts (nothing
cut off, no code), and no file changed in the repository."""
import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["MISSREC_SOURCE_DIR"], "tests", "support"))
from script_check import check, finish  # noqa: E402

SOURCE = os.environ["MISSREC_SOURCE_DIR"]


def header(path):
    """The comment block after the shebang (up to any #SBATCH lines), as --help should print it."""
    lines = []
    with open(path) as f:
        for line in list(f)[1:]:
            if not line.startswith("#") or line.startswith("#SBATCH"):
                break
            lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "".join(lines)


def status():
    return subprocess.run(["git", "-C", SOURCE, "status", "--porcelain"], capture_output=True, text=True).stdout


# Executable scripts (launch/env.sh is sourced by the others, not run).
scripts = sorted(p for p in glob.glob(os.path.join(SOURCE, "scripts", "*.sh")) + glob.glob(os.path.join(SOURCE, "launch", "*.sh"))
                 + glob.glob(os.path.join(SOURCE, "launch", "*", "*.sh"))
                 + glob.glob(os.path.join(SOURCE, "launch", "*", "*.sbatch")) if os.access(p, os.X_OK))
python_scripts = sorted(p for p in glob.glob(os.path.join(SOURCE, "scripts", "*.py"))
                        + glob.glob(os.path.join(SOURCE, "scripts", "quality", "*.py"))
                        if os.access(p, os.X_OK))
check("there are scripts to check", len(scripts) >= 10 and len(python_scripts) >= 6, (scripts, python_scripts))
before = status()
for path in scripts + python_scripts:
    name = os.path.relpath(path, SOURCE)
    command = [sys.executable, path, "--help"] if path.endswith(".py") else ["bash", path, "--help"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=SOURCE)
    text = proc.stdout
    check(f"{name} --help exits 0", proc.returncode == 0, proc.stderr[-500:])
    check(f"{name} --help names the script", os.path.basename(path) in text, text[:300])
    if not path.endswith(".py"):
        check(f"{name} --help prints its whole header and no code", text == header(path), text[-300:])
check("--help changed no file of the repository", status() == before)
finish()
