"""Re-create the `package_readmes` language-modelling data (harness/scenarios/data/package_readmes/) from the long
descriptions (READMEs) of permissively licensed packages installed in this environment, and their entries in
checksums.json.

    python scripts/data/make_package_readmes.py          # write the files
    python scripts/data/make_package_readmes.py --check  # exit 1 unless the shipped files are what it would write

Each document is a package's long description from its installed METADATA, cut at the last blank line before
MAX_CHARS characters (whole paragraphs, a few hundred tokens each) so a run on a CPU stays short. The packages and
versions are pinned: another installed version stops the script rather than writing different data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
from importlib.metadata import distribution
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "harness" / "scenarios" / "data"
NAME = "package_readmes"
MAX_CHARS = 1500
# name -> (version, license as the package's metadata states it)
PACKAGES: dict[str, tuple[str, str]] = {
    "Jinja2": ("3.1.6", "BSD-3-Clause"), "MarkupSafe": ("3.0.4", "BSD-3-Clause"), "click": ("8.5.1", "BSD-3-Clause"),
    "filelock": ("4.3.2", "MIT"), "iniconfig": ("2.3.1", "MIT"), "idna": ("3.21", "BSD-3-Clause"),
    "anyio": ("4.16.0", "MIT"), "attrs": ("26.1.0", "MIT"), "h11": ("0.16.0", "MIT"),
    "cloudpickle": ("3.1.3", "BSD-3-Clause"), "joblib": ("1.6.0", "BSD-3-Clause"),
    "multidict": ("7.2.1", "Apache-2.0"), "aiosignal": ("1.4.0", "Apache-2.0"), "networkx": ("3.6.1", "BSD-3-Clause"),
    "packaging": ("26.4", "Apache-2.0 OR BSD-2-Clause"), "pluggy": ("1.7.0", "MIT"), "pytest": ("9.2.0", "MIT"),
    "requests": ("2.34.2", "Apache-2.0"), "urllib3": ("2.8.0", "MIT"), "tomlkit": ("0.15.3", "MIT"),
    "truststore": ("0.10.5", "MIT"), "pip": ("26.3", "MIT"), "setuptools": ("84.2.1", "MIT"),
    "fsspec": ("2026.9.0", "BSD-3-Clause"),
}


def document(name: str, version: str) -> str:
    dist = distribution(name)
    if dist.version != version:
        sys.exit(f"{name} {dist.version} is installed; this data was cut from {version}")
    body = (dist.metadata.get_payload() or "").replace("\r\n", "\n").strip()  # type: ignore[attr-defined]
    if len(body) <= MAX_CHARS:
        return body
    cut = body.rfind("\n\n", 0, MAX_CHARS)
    return body[: cut if cut > 0 else MAX_CHARS].rstrip()


def gzipped(text: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as f:
        f.write(text)
    return out.getvalue()


def build() -> dict[str, bytes]:
    rows = []
    for name, (version, _) in PACKAGES.items():
        rows.append({"id": f"{name.lower()}-{version}", "split": "test", "input": document(name, version),
                     "references": [], "package": name, "version": version})
    data = gzipped("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode())
    table = "\n".join(f"| {n} | {v} | {lic} |" for n, (v, lic) in PACKAGES.items())
    source = f"""# Package READMEs (language modelling)

Scenario `package_readmes`. Rebuild with `python scripts/data/make_package_readmes.py`; verify with `--check`.

## Source

The long descriptions (the README shown on PyPI) of {len(PACKAGES)} Python packages, read from their installed
`METADATA` files, at the versions below.

## License

Each document keeps its package's license, all permissive (as the package's metadata states it):

| package | version | license |
| --- | --- | --- |
{table}

## How the file was cut

One document per package (split `test`, `id` = `name-version`), in the order above: the long description with
CRLF turned into LF and surrounding whitespace stripped, cut at the last blank line before {MAX_CHARS} characters
(whole paragraphs). `references` is empty: language modelling scores the text itself.

| file | rows | bytes | sha256 |
| --- | --- | --- | --- |
| `test.jsonl.gz` | {len(rows)} | {len(data)} | `{hashlib.sha256(data).hexdigest()}` |
"""
    return {"test.jsonl.gz": data, "SOURCE.md": source.encode()}


def main() -> None:
    files = build()
    checksums_path = DATA / "checksums.json"
    checksums = json.loads(checksums_path.read_text())
    wanted = {f"{NAME}/{file}": hashlib.sha256(data).hexdigest() for file, data in files.items()}
    if "--check" in sys.argv:
        bad = [k for k, v in wanted.items() if checksums.get(k) != v or not (DATA / k).is_file()
               or hashlib.sha256((DATA / k).read_bytes()).hexdigest() != v]
        print("ok" if not bad else f"differs: {', '.join(bad)}")
        sys.exit(1 if bad else 0)
    (DATA / NAME).mkdir(exist_ok=True)
    for file, data in files.items():
        (DATA / NAME / file).write_bytes(data)
    checksums.update(wanted)
    checksums_path.write_text(json.dumps(dict(sorted(checksums.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
