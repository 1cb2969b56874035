"""Seeded fuzzing of every file a user hands to missrec (the CLI's input rule: exit 0 or
2, one line naming the problem, never a crash): bytes and values of a small dataset's
HDF5 files and dataset.yaml (`data inspect`), of the public release's .inter, item2index
and feature files (`data convert`, which must also leave no output behind on exit 2),
and of a checkpoint (`export`). At least 500 cases; the seed is fixed, so a failure
reproduces."""
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import BIN, SMALL_MODEL, check, finish, run, synth_demo, write_config

SEED = 20261129
CASES = {"dataset": 260, "public": 200, "checkpoint": 60}
rng = random.Random(SEED)
problems = []


def mutate_bytes(path):
    data = bytearray(open(path, "rb").read())
    kind = rng.choice(["flip", "flip", "zero", "truncate", "append", "splice"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "zero":
        start = rng.randrange(len(data))
        for i in range(start, min(len(data), start + rng.randint(1, 64))):
            data[i] = 0
    elif kind == "truncate":
        del data[rng.randrange(len(data)):]
    elif kind == "append":
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    else:
        a, b = sorted(rng.randrange(len(data)) for _ in range(2))
        data[a:b] = bytes(rng.randrange(256) for _ in range(b - a))
    open(path, "wb").write(bytes(data))
    return kind


def mutate_text(path):
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    kind = rng.choice(["token", "drop_field", "swap", "garbage", "empty", "negative", "huge"])
    i = rng.randrange(len(lines))
    fields = lines[i].split("\t")
    if kind == "token":
        fields[rng.randrange(len(fields))] = rng.choice(["", "x", "-1", "1e9", "nan", "3.5", " ", "\x00"])
    elif kind == "drop_field" and len(fields) > 1:
        del fields[rng.randrange(len(fields))]
    elif kind == "swap":
        rng.shuffle(fields)
    elif kind == "garbage":
        fields = ["".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randint(1, 20)))]
    elif kind == "empty":
        fields = [""]
    elif kind == "negative":
        fields[-1] = "-" + fields[-1]
    else:
        fields[-1] = "99999999999999999999"
    lines[i] = "\t".join(fields)
    open(path, "w", encoding="utf-8", errors="replace").write("\n".join(lines))
    return kind


def mutate_yaml(path):
    text = open(path).read().split("\n")
    i = rng.randrange(len(text))
    kind = rng.choice(["value", "delete", "indent", "garbage"])
    if kind == "value" and ":" in text[i]:
        key = text[i].split(":")[0]
        text[i] = key + ": " + rng.choice(["-1", "abc", "[]", "{}", "0", "1e30", "''", "~", "2.5"])
    elif kind == "delete":
        del text[i]
    elif kind == "indent":
        text[i] = "   " + text[i]
    else:
        text[i] = rng.choice(["{{", "- - -", ":::", "\t", "key: [unclosed"])
    open(path, "w").write("\n".join(text))
    return kind


def judge(family, case, what, code, stdout, stderr, output=None, work=None, must_reject=False):
    """Exit 0 or 2; on 2 exactly one error line, naming a file of the mutated input; no
    output left behind. must_reject: a checksummed file changed, so 0 is wrong too."""
    message_lines = [line for line in stderr.splitlines() if line.startswith("missrec: error:")]
    ok = code in (0, 2)
    if code == 2 and len(message_lines) != 1:
        ok = False
        what += f" ({len(message_lines)} error lines, expected 1)"
    elif code == 2 and work is not None and os.path.basename(work) not in message_lines[0]:
        ok = False
        what += " (the error names no file of the input)"
    if must_reject and code != 2:
        ok = False
        what += " (a checksummed file changed, yet not rejected)"
    if code == 2 and output is not None and os.path.exists(output):
        ok = False
        what += " (output left behind)"
    if not ok:
        problems.append(f"{family} #{case} ({what}): exit {code}; {stderr.strip()[-300:]}")


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.02)
    base = os.path.join(tmp, "demo", "downstream")
    files = sorted(f for f in os.listdir(base))

    jobs = []  # (family, case, what, args, output checked on exit 2, input directory, must reject)
    for case in range(CASES["dataset"]):
        work = os.path.join(tmp, f"ds{case}")
        shutil.copytree(base, work)
        name = rng.choice(files)
        kind = mutate_yaml(os.path.join(work, name)) if name.endswith(".yaml") else mutate_bytes(os.path.join(work, name))
        jobs.append(("dataset", case, f"{name} {kind}", ["data", "inspect", work], None, work, False))

    # A public-release downstream domain (the public MISSRec/UniSRec layout, see
    # docs/data-format.md).
    public = os.path.join(tmp, "public")
    os.makedirs(public)
    values = np.random.default_rng(1).standard_normal((6, 8)).astype("<f4")
    for suffix in ("feat1CLS", "feat2CLS", "feat3CLS"):
        values.tofile(os.path.join(public, f"Sci.{suffix}"))
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    splits = {"train": ["u1\t0 1\t2", "u1\t0\t1", "u2\t3 4 5\t0"], "valid": ["u1\t0 1 2\t3"],
              "test": ["u1\t0 1 2 3\t5", "u2\t3\t4"]}
    for split, rows in splits.items():
        open(os.path.join(public, f"Sci.{split}.inter"), "w").write(header + "\n".join(rows) + "\n")
    open(os.path.join(public, "Sci.item2index"), "w").write("".join(f"ASIN{i}\t{i}\n" for i in range(6)))
    code, out, err = run(["data", "convert", "--from-missrec", public, "--out", os.path.join(tmp, "pub_ok"),
                          "--feature-dim", "8"])
    check("the unmutated public layout converts", code == 0, out + err)
    public_files = sorted(os.listdir(public))
    for case in range(CASES["public"]):
        work = os.path.join(tmp, f"pub{case}")
        shutil.copytree(public, work)
        name = rng.choice(public_files)
        path = os.path.join(work, name)
        if "feat" in name:
            if rng.random() < 0.5:
                kind = mutate_bytes(path)
            else:
                array = np.fromfile(path, dtype="<f4")
                array[rng.randrange(array.size)] = rng.choice([np.nan, np.inf, -np.inf, 1e38])
                array.tofile(path)
                kind = "non-finite value"
        else:
            kind = mutate_text(path)
        output = os.path.join(tmp, f"pub_out{case}")
        jobs.append(("public", case, f"{name} {kind}",
                     ["data", "convert", "--from-missrec", work, "--out", output, "--feature-dim", "8"], output,
                     work, False))

    # A checkpoint of a 2-step run.
    config = write_config(os.path.join(tmp, "run.yaml"), {
        "run": {"dir": os.path.join(tmp, "run")}, "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL, "train": {"epochs": 1, "batch_size": 32, "max_steps": 2},
        "cluster": {"memory_mb": 64}})
    code, out, err = run(["pretrain", "--config", config])
    check("a 2-step run for the checkpoint cases", code == 0, err[-1500:])
    checkpoint = os.path.realpath(os.path.join(tmp, "run", "checkpoints", "latest"))
    for case in range(CASES["checkpoint"]):
        work = os.path.join(tmp, f"ckpt{case}")
        shutil.copytree(checkpoint, work)
        name = rng.choice(sorted(os.listdir(work)))
        path = os.path.join(work, name)
        before = open(path, "rb").read()
        kind = mutate_yaml(path) if name.endswith(".yaml") else mutate_bytes(path)
        # checkpoint.yaml holds the checksums of the other files: any change to those
        # must be rejected (a change to checkpoint.yaml itself may be harmless, e.g. in
        # a comment).
        must_reject = name != "checkpoint.yaml" and open(path, "rb").read() != before
        output = os.path.join(tmp, f"export{case}.pth")
        jobs.append(("checkpoint", case, f"{name} {kind}",
                     ["export", "--checkpoint", work, "--format", "pytorch", "--out", output], output,
                     work, must_reject))

    # The cases were drawn in a fixed order; they run two at a time (each is mostly the
    # executable's start-up).
    def execute(job):
        family, case, what, args, output, work, must_reject = job
        code, out, err = run(args, timeout=60)
        return family, case, what, code, out, err, output, work, must_reject

    with ThreadPoolExecutor(max_workers=2) as pool:
        for family, case, what, code, out, err, output, work, must_reject in pool.map(execute, jobs):
            judge(family, case, what, code, out, err, output=output, work=work, must_reject=must_reject)

    total = sum(CASES.values())
    check(f"{total} mutated inputs: every one exits 0 or 2 with one error line naming the input, checksummed "
          f"checkpoint files always rejected, nothing partial left "
          f"({len(problems)} problems)", not problems, "\n".join(problems[:15]))
finish()
