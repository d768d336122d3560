"""Search indexes, loaded with <script src> so that they work from file:// (fetch() of a local file does not).

- runs/<run>/search.js: each instance of the run (its ordinal, page, id and the start of its input and
  prediction), so the search box of any page of the run finds instances on its other pages too.
- search.js at the root: the models and scenario groups, for the leaderboard's search box.
The JSON is written with '<' escaped, as on the run pages, so no text can end the script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from harness.names import visible
from harness.report import InstanceView

INPUT_CHARS = 160  # what the index keeps of an instance's input...
PREDICTION_CHARS = 80  # ...and of its prediction: enough to find it, small enough for 100k instances


def _script(variable: str, data: Any) -> bytes:
    body = orjson.dumps(data).replace(b"<", b"\\u003c")
    return b"window." + variable.encode() + b" = " + body + b";\n"


class RunIndex:
    """Filled as write_run places each instance on its page; written once the run's pages are."""

    def __init__(self) -> None:
        self.items: list[list[Any]] = []

    def add(self, ordinal: int, page: int, inst: InstanceView) -> None:
        text = f"{inst.input[:INPUT_CHARS]} \u2192 {inst.prediction[:PREDICTION_CHARS]}"
        self.items.append([ordinal, page, inst.instance_id[:200], text])

    def write(self, run_dir: Path) -> None:
        (run_dir / "search.js").write_bytes(_script("harnessRunIndex", self.items))


def write_site_index(out_dir: Path, models: list[tuple[str, str]], groups: list[tuple[str, str]]) -> None:
    """(name, href) of each model and scenario group."""
    data = {"models": [[visible(n), h] for n, h in models], "groups": [[visible(n), h] for n, h in groups]}
    (out_dir / "search.js").write_bytes(_script("harnessSiteIndex", data))
