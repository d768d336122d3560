"""WMT14 news translation (Bojar et al., 2014): newstest2014, scored by sentence BLEU-4 as in HELM.

Not shipped (news articles): `harness prefetch` downloads the official newstest2014 SGML source and reference files
("test-full", 3,003 sentences for de-en) from a pinned commit of a public repository that vendors them
(nyu-mll/jiant); no sha256 could be derived offline, so they are trust-on-first-use. The pair is an arg (`de-en`,
`en-fr`, ...; English on one side, the other one of cs, de, fr, hi, ru).

HELM draws few-shot examples from a 20,000-row sample of the multi-gigabyte training corpora; fetching those is out
of proportion, so the few-shot pool is held out of newstest2014 itself: every 25th document (whole documents, so no
evaluated sentence shares a document with an example) is split `train`, the rest `test`. This departs from HELM's
test set by about 4% of its sentences; say so when comparing numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.scenarios.base import register_scenario
from harness.scenarios.download import DownloadedScenario, RemoteFile

_JIANT = "ad60d996ed865e59969ca71fe156d4a728e0a0ab"
_BASE = f"https://raw.githubusercontent.com/nyu-mll/jiant/{_JIANT}/test-full"
LANGUAGES = {"cs": "Czech", "de": "German", "fr": "French", "hi": "Hindi", "ru": "Russian", "en": "English"}
FEWSHOT_EVERY = 25  # every 25th document is the few-shot pool

_DOC = re.compile(r'<doc\s+[^>]*docid="([^"]*)"')
# As the Hugging Face WMT loader reads SGML: the text between the tags, entities left as they are.
_SEG = re.compile(r'<seg id="?(\d+)"?>(.*)</seg>')


def remote_file(other: str, role: str, lang: str) -> RemoteFile:
    return RemoteFile(f"{_BASE}/newstest2014-{other}en-{role}.{lang}.sgm", _JIANT, None,
                      "WMT14 test data: research use (statmt.org)", None, f"newstest2014 {other}-en {role} ({lang})")


def read_sgm(path: Path) -> list[tuple[str, str, str]]:
    """(docid, segment id, text) for every <seg> of an SGML file, in order."""
    out: list[tuple[str, str, str]] = []
    doc = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if m := _DOC.search(line):
            doc = m.group(1)
        elif m := _SEG.search(line):
            if not doc:
                raise HarnessError("<seg> outside a <doc>", path=str(path), line=number)
            out.append((doc, m.group(1), m.group(2).strip()))
    return out


@register_scenario
class WMT14Scenario(DownloadedScenario):
    name = "wmt14"
    description = "WMT14 newstest2014 translation, one language pair, sentence BLEU-4 (download)."
    main_metric = "sacrebleu_4"
    default_method = "generation"
    source = "https://www.statmt.org/wmt14/translation-task.html (Bojar et al., WMT 2014)"
    license = "research use (WMT14 test sets, statmt.org)"
    args = {"pair": "de-en"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pair = str(self.kwargs["pair"])
        src, _, tgt = pair.partition("-")
        if src not in LANGUAGES or tgt not in LANGUAGES or src == tgt or "en" not in (src, tgt):
            raise HarnessError(f"WMT14 pair must be X-en or en-X with X in cs, de, fr, hi, ru; got {pair!r}",
                               field="args")
        self.src, self.tgt = src, tgt
        self.other = src if tgt == "en" else tgt
        self.input_prefix = f"{LANGUAGES[src]}: "  # type: ignore[misc]  (HELM's translation prompt)
        self.output_prefix = f"{LANGUAGES[tgt]}: "  # type: ignore[misc]

    def instructions_for(self) -> str:
        return f"Translate the following sentences from {LANGUAGES[self.src]} to {LANGUAGES[self.tgt]}."

    def remote_files(self) -> tuple[RemoteFile, ...]:
        return (remote_file(self.other, "src", self.src), remote_file(self.other, "ref", self.tgt))

    def parse(self, paths: list[Path]) -> Iterator[Instance]:
        sources, targets = read_sgm(paths[0]), read_sgm(paths[1])
        if len(sources) != len(targets):
            raise HarnessError(f"{len(sources)} source segments but {len(targets)} reference segments",
                               path=str(paths[1]))
        docs: dict[str, int] = {}
        for (doc, seg, text), (ref_doc, ref_seg, ref) in zip(sources, targets):
            if (doc, seg) != (ref_doc, ref_seg):
                raise HarnessError(f"source {doc}#{seg} is aligned with reference {ref_doc}#{ref_seg}",
                                   path=str(paths[1]))
            index = docs.setdefault(doc, len(docs))
            split = "train" if index % FEWSHOT_EVERY == 0 else "test"
            yield Instance(f"{doc}#{seg}", text, (Reference(ref, (CORRECT,)),), split)
