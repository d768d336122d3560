"""Single-document news summarization, as in HELM: XSum (one-sentence BBC summaries) and CNN/DailyMail (highlights),
scored by ROUGE-2. Documents are whitespace-normalised (newlines to spaces), as HELM does; `doc_max_words` truncates
them (HELM's `doc_max_length`, whitespace words).

Never shipped (news articles). `harness prefetch` downloads the original archives at pinned revisions, read with the
standard library (tarfile), trust-on-first-use where no sha256 could be derived offline:
- CNN/DailyMail: the story archives of the Hugging Face `cnn_dailymail` repository (the revision its own loader
  names) and the train/val/test URL lists of abisee/cnn-dailymail; a story belongs to a split when the SHA-1 of its
  URL is listed there (See et al.'s non-anonymised version 3.0.0, 11,490 test articles). The few-shot pool (`train`)
  is the first 1,000 listed training stories, not all 287k.
- XSum: the BBC archive and EdinburghNLP's 90/5/5 split list (11,334 test); `summary` is the FIRST-SENTENCE field.
  The archive's revision on the Hugging Face hub could not be pinned offline, so XSum refuses to download until it
  is (see XSUM_ARCHIVE).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.scenarios.base import register_scenario
from harness.scenarios.download import DownloadedScenario, RemoteFile

_CNNDM_HF = "11343c3752184397d56efc19a8a7cceb68089318"  # the revision HF's cnn_dailymail.py names for its archives
_CNNDM_LISTS = "00c6a25461ba6e625543a767593da723cc85cdf9"  # abisee/cnn-dailymail
_XSUM_SPLITS = "7b1d1ed4128e23bd96fa967ab1858523d29dfa96"  # EdinburghNLP/XSum
CNNDM_FILES = {
    "cnn": RemoteFile(f"https://huggingface.co/datasets/cnn_dailymail/resolve/{_CNNDM_HF}/data/cnn_stories.tgz",
                      _CNNDM_HF, None, "Apache-2.0", None, "CNN stories (See et al.)"),
    "dailymail": RemoteFile(
        f"https://huggingface.co/datasets/cnn_dailymail/resolve/{_CNNDM_HF}/data/dailymail_stories.tgz",
        _CNNDM_HF, None, "Apache-2.0", None, "Daily Mail stories (See et al.)"),
    **{split: RemoteFile(
        f"https://raw.githubusercontent.com/abisee/cnn-dailymail/{_CNNDM_LISTS}/url_lists/all_{name}.txt",
        _CNNDM_LISTS, None, "MIT", None, f"CNN/DailyMail {split} URL list") for split, name in
        (("train", "train"), ("valid", "val"), ("test", "test"))},
}
XSUM_SPLIT_FILE = RemoteFile(
    f"https://raw.githubusercontent.com/EdinburghNLP/XSum/{_XSUM_SPLITS}/XSum-Dataset/"
    "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json", _XSUM_SPLITS, None, "MIT", None, "XSum 90/5/5 split ids")
XSUM_ARCHIVE: RemoteFile | None = None  # EdinburghNLP/xsum data/XSUM-EMNLP18-Summary-Data-Original.tar.gz: pin me
CNNDM_TRAIN_POOL = 1000
# Lines the HF XSum loader drops (BBC share widgets).
_XSUM_DROP = {"Share this with", "Email", "Facebook", "Messenger", "Twitter", "Pinterest", "WhatsApp", "Linkedin",
              "LinkedIn", "Copy this link", "These are external links and will open in a new window"}
_END_TOKENS = (".", "!", "?", "...", "'", "`", '"', "\u2019", "\u201d", ")")


def _clean(text: str, max_words: int | None = None) -> str:
    return " ".join(text.replace("\n", " ").split()[:max_words])


def story_parts(text: str) -> tuple[str, str]:
    """(article, highlights) of a .story file, as HF's cnn_dailymail 3.0.0 builds them."""
    article, highlights, next_is_highlight = [], [], False
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        if line.startswith("@highlight"):
            next_is_highlight = True
        elif next_is_highlight:
            highlights.append(line if line.endswith(_END_TOKENS) else line + " .")
        else:
            article.append(line if line.endswith(_END_TOKENS) else line + " .")
    return " ".join(article), "\n".join(highlights)


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path)
    except (tarfile.TarError, OSError) as e:
        raise HarnessError(f"unreadable archive: {e}", path=str(path)) from e


class _Summarization(DownloadedScenario):
    main_metric = "rouge_2"
    default_method = "generation"
    instructions = "Summarize the given documents."
    input_prefix = "Document: "
    output_prefix = "Summary: "
    args = {"doc_max_words": None}

    def _words(self) -> int | None:
        value = self.kwargs["doc_max_words"]
        if value is not None and (not isinstance(value, int) or value < 1):
            raise HarnessError("doc_max_words must be a positive integer", field="args")
        return value


@register_scenario
class CNNDailyMailScenario(_Summarization):
    name = "cnn_dailymail"
    description = "CNN/DailyMail: summarize a news article as its highlights, ROUGE-2 (download: 11,490 test)."
    source = "https://github.com/abisee/cnn-dailymail (See et al., ACL 2017; Hermann et al., NeurIPS 2015)"
    license = "Apache-2.0"

    def remote_files(self) -> tuple[RemoteFile, ...]:
        return tuple(CNNDM_FILES[k] for k in ("cnn", "dailymail", "train", "valid", "test"))

    def parse(self, paths: list[Path]) -> Iterator[Instance]:
        max_words = self._words()
        wanted: dict[str, str] = {}
        for split, path in zip(("train", "valid", "test"), paths[2:]):
            urls = [u.strip() for u in path.read_text(encoding="utf-8").splitlines() if u.strip()]
            if split == "train":
                urls = urls[:CNNDM_TRAIN_POOL]
            for url in urls:
                wanted[hashlib.sha1(url.encode("utf-8")).hexdigest()] = split
        for archive in paths[:2]:
            with _open_tar(archive) as tar:
                for member in tar:
                    story = Path(member.name).stem
                    if not member.isfile() or story not in wanted:
                        continue
                    handle = tar.extractfile(member)
                    article, highlights = story_parts(handle.read().decode("utf-8") if handle else "")
                    if article and highlights:
                        yield Instance(story, _clean(article, max_words), (Reference(_clean(highlights), (CORRECT,)),),
                                       wanted[story])


@register_scenario
class XSumScenario(_Summarization):
    name = "xsum"
    description = "XSum: one-sentence summary of a BBC article, ROUGE-2 (download: 11,334 test)."
    source = "https://github.com/EdinburghNLP/XSum (Narayan et al., EMNLP 2018)"
    license = "MIT (split list); BBC articles for research use"

    def remote_files(self) -> tuple[RemoteFile, ...]:
        if XSUM_ARCHIVE is None:
            raise HarnessError("XSum's BBC archive is not pinned to a revision yet; set XSUM_ARCHIVE in "
                               "harness/scenarios/summarization.py to a RemoteFile at a Hugging Face commit")
        return (XSUM_ARCHIVE, XSUM_SPLIT_FILE)

    def parse(self, paths: list[Path]) -> Iterator[Instance]:
        max_words = self._words()
        try:
            ids: Any = json.loads(paths[1].read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise HarnessError(f"unreadable split list: {e}", path=str(paths[1])) from e
        split_of = {str(i): ours for theirs, ours in (("train", "train"), ("validation", "valid"), ("test", "test"))
                    for i in ids.get(theirs, ())}
        with _open_tar(paths[0]) as tar:
            for member in tar:
                name = Path(member.name)
                if not member.isfile() or name.suffix != ".summary" or name.stem not in split_of:
                    continue
                handle = tar.extractfile(member)
                lines = (handle.read().decode("utf-8") if handle else "").splitlines()
                text = "\n".join(x for x in lines if x.strip() and x.strip() not in _XSUM_DROP)
                segments = text.split("[SN]")
                if len(segments) < 9:
                    raise HarnessError("XSum file lacks its [SN] sections", path=f"{paths[0]}:{member.name}")
                yield Instance(name.stem, _clean(segments[8], max_words),
                               (Reference(_clean(segments[6]), (CORRECT,)),), split_of[name.stem])
