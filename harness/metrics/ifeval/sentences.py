"""Offline sentence splitting, word counting and word tokenization for the IFEval checkers and HELM's BLEU.

The reference checkers (and HELM's `bleu_1`/`bleu_4`) split sentences with NLTK's pretrained English Punkt model
and tokenize words with NLTK's `word_tokenize`; both need data downloaded at run time. This module reproduces what
they decide, from rules: it splits 554 of 556 IFEval prompts and hand cases, and 96.6% of the HELM conformance
fixture's texts, exactly as Punkt does (docs/metrics.md says where it does not):

- A sentence can end at `.`, `?` or `!` followed by whitespace and more text, or directly by a closing quote or
  bracket; several such ends in one whitespace-delimited chunk (`it."?`) count once, at the chunk's last one that
  has more text after it (so a response ending `"Why?".` has `".` as a sentence of its own, as in Punkt), unless
  the chunk starts with one: ` ?! ` ends a sentence at `?` and again at `!`.
  Punctuation glued to a word (`3.5`, `example.com`, `Hello.World`) never ends one; neither does a newline on its
  own (a list without full stops is one sentence).
- `?` and `!` always end a sentence; so does a period after an ordinary word, whatever follows (`etc. and` splits:
  Punkt's English model knows neither `etc.` nor `e.g.` as abbreviations).
- After a known abbreviation (`Mr.`, `Dr.`, `Inc.`, `U.S.`, `p.m.`, ...) or an ellipsis (`...`) only a capitalised
  word that Punkt's English model takes for a sentence start begins a new sentence: one of its frequent sentence
  starters, or a word never capitalised mid-sentence in its training text (`at 5 p.m. The next` and `Yes... The
  end` split; `Dr. Smith`, `Wait... What happened?` and `WAIT... WHAT?` stay whole).
- After an initial (`B.`) or a number (`1999.`, `1.`), a lower-case word continues the sentence; after an initial,
  so does a capitalised word that is not a common opener (`J. K. Rowling`).
- Closing quotes and brackets after the break stay with the sentence they close (`He said "Stop." Then`).
"""

from __future__ import annotations

import re

# Punkt's English model's abbreviations (lower-case, without the final period). Single letters among them never end
# a sentence; other single letters are initials.
ABBREVIATIONS = frozenset({
    "a.a", "a.c", "a.d", "a.g", "a.h", "a.m", "a.m.e", "a.s", "a.t", "adm", "ala", "ariz", "aug", "ave", "b.f",
    "b.v", "bros", "c", "c.i.t", "c.o.m.b", "c.v", "calif", "chg", "cie", "co", "col", "colo", "conn", "corp", "cos",
    "ct", "d", "d.c", "d.h", "d.w", "dec", "dr", "e", "e.f", "e.h", "e.l", "e.m", "f", "f.g", "f.j", "feb", "fla",
    "fri", "ft", "g", "g.d", "g.f", "g.k", "ga", "gen", "h", "h.c", "h.f", "h.m", "i.m.s", "ill", "inc", "j.b",
    "j.c", "j.j", "j.k", "j.p", "j.r", "jan", "jr", "k", "kan", "ky", "l", "l.a", "l.f", "l.p", "lt", "ltd", "m",
    "m.b.a", "m.d.c", "m.j", "maj", "messrs", "mg", "mich", "minn", "mr", "mrs", "ms", "n", "n.c", "n.d", "n.h",
    "n.j", "n.m", "n.v", "n.y", "nev", "nov", "oct", "ok", "okla", "ore", "p", "p.a.m", "p.m", "pa", "ph.d",
    "prof", "r", "r.a", "r.h", "r.i", "r.j", "r.k", "r.t", "rep", "reps", "s", "s.a", "s.a.y", "s.c", "s.g",
    "s.p.a", "s.s", "sen", "sep", "sept", "sr", "st", "sw", "t", "t.j", "tenn", "tues", "u.k", "u.n", "u.s",
    "u.s.a", "u.s.s.r", "v", "va", "vs", "vt", "w", "w.c", "w.r", "w.va", "w.w", "wash", "wed", "wis", "yr",
})

# Capitalised words that, after an abbreviation, initial or ellipsis, show a new sentence has begun. Punkt uses the
# words its model saw starting sentences and seldom capitalised mid-sentence; these are the common ones.
SENTENCE_OPENERS = frozenset({
    "a", "according", "after", "all", "also", "although", "among", "an", "and", "another", "any", "are", "as", "at",
    "because", "before", "both", "but", "by", "can", "could", "despite", "each", "even", "every", "finally", "first",
    "for", "from", "had", "has", "have", "he", "her", "here", "his", "how", "however", "i", "if", "in", "indeed",
    "instead", "is", "it", "its", "let", "many", "may", "meanwhile", "moreover", "most", "my", "nevertheless",
    "next", "no", "nonetheless", "nor", "not", "now", "of", "on", "once", "one", "or", "our", "overall", "please",
    "second", "separately", "she", "should", "similarly", "since", "so", "some", "still", "such", "that", "the",
    "their", "then", "there", "therefore", "these", "they", "this", "those", "though", "thus", "to", "today",
    "under", "was", "we", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "yes", "yet", "you", "your",
})

# Punkt's English model's frequent sentence starters (its `sent_starters.txt`). After an abbreviation or an
# ellipsis Punkt starts a sentence at a capitalised one of these, or at a capitalised word its model saw in lower
# case and never capitalised mid-sentence; of SENTENCE_OPENERS, only STARTS_AFTER_ABBREVIATION are such words.
# Rarer words of that kind ("Separate", "Thing") are not reproduced without the model's 20,000-word table
# (docs/metrics.md).
SENT_STARTERS = frozenset({
    "most", "he", "since", "so", "both", "these", "it", "nevertheless", "this", "indeed", "however", "instead",
    "under", "similarly", "some", "though", "while", "when", "in", "despite", "although", "nonetheless", "thus",
    "there", "if", "the", "nor", "separately", "moreover", "but", "they", "yet", "many", "according", "sales",
    "among", "meanwhile", "even", "i",
})

STARTS_AFTER_ABBREVIATION = SENT_STARTERS | frozenset({
    "finally", "her", "here", "overall", "please", "still", "such", "therefore", "were", "which", "yes", "your",
})

# What Punkt's regexes match (NLTK 3.9+): a possible sentence end is one of . ? ! followed by a non-word character
# (closing quote or bracket, ...) or by whitespace and a next token.
_NON_WORD = "[)\";}\\]*:@'({\\[\u2018\u2019\u201c\u201d\xab\xbb?!]"
_CANDIDATE = re.compile(rf"[.?!](?=(?P<after>{_NON_WORD}|\s+(?P<next>\S+)))")
# Punkt's word tokens: a dash or dot run, a word (not starting with an opening or other non-word character, ending
# before whitespace, a non-word character, a dash or dot run, or a word-final comma), or any other single character.
_TOKEN = re.compile(
    r"(?:-{2,}|\.{2,}|(?:\.\s){2,}\.)"
    rf"|(?=[^(\"`{{\[:;&#*@)}}\]\-,])\S+?(?=\s|$|{_NON_WORD}|-{{2,}}|\.{{2,}}|,(?=$|\s|{_NON_WORD}))"
    r"|\S")
# Closing quotes and brackets at the start of a sentence that belong to the previous one (Punkt's realignment).
_CLOSERS = re.compile("[\"')\\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\\s+|(?=--)|$)", re.MULTILINE)
_NUMBER = re.compile(r"^-?[.,]?\d[\d,.\-]*\.?$")
_INITIAL = re.compile(r"^[^\W\d]\.$")
_ELLIPSIS = re.compile(r"\.\.+$")


def _opens_after_abbreviation(word: str | None) -> bool:
    """Whether Punkt starts a new sentence at `word` after an abbreviation or an ellipsis."""
    return word is not None and word[:1].isupper() and re.sub(r"\W+$", "", word).lower() in STARTS_AFTER_ABBREVIATION


def _starts_sentence(word: str | None) -> bool | None:
    """Whether a word surely starts a sentence (True), surely continues one (False), or cannot tell (None): Punkt's
    orthographic heuristic, with common words standing in for the word statistics of its model."""
    if word is None or word in (";", ":", ",", ".", "!", "?"):
        return False
    if word[:1].isupper() and re.sub(r"\W+$", "", word).lower() in SENTENCE_OPENERS:
        return True
    if word[:1].islower():
        return False
    return None


def _is_break(token: str, following: str | None) -> bool:
    """Whether Punkt ends a sentence at `token`, given the token after it."""
    if token in (".", "?", "!"):
        return True
    if _ELLIPSIS.search(token):
        return _opens_after_abbreviation(following)
    if not token.endswith("."):
        return False
    word = token[:-1].lower()
    if word in ABBREVIATIONS or word.split("-")[-1] in ABBREVIATIONS:
        # Listed single letters never end a sentence; other abbreviations do before a sentence starter.
        return len(word) > 1 and _opens_after_abbreviation(following)
    if _INITIAL.match(token):
        # An initial before a lower-case word or a capitalised unknown (a name: `J. K. Rowling`) continues.
        return bool(_starts_sentence(following))
    if _NUMBER.match(token):
        return _starts_sentence(following) is not False
    return True


def _contains_break(context: str) -> bool:
    tokens = _TOKEN.findall(context)
    return any(_is_break(tok, tokens[i + 1]) for i, tok in enumerate(tokens[:-1]))


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped, in order; [] for blank text."""
    # Candidates in one whitespace-delimited chunk (`it."?`) are judged once, at the chunk's last candidate, on the
    # tokens from the chunk's start to the token after it.
    chunks: list[tuple[int, re.Match[str]]] = []
    for match in _CANDIDATE.finditer(text):
        space = max(text.rfind(" ", 0, match.start()), text.rfind("\n", 0, match.start()),
                    text.rfind("\t", 0, match.start()))
        start = space + 1
        # NLTK judges an end that opens its chunk (` ?!`: no word before the `?`) on its own, not with the next.
        if chunks and chunks[-1][0] == start and chunks[-1][1].start() != start:
            chunks.pop()
        chunks.append((start, match))
    sentences: list[str] = []
    last = 0
    for start, match in chunks:
        if match.start() < last:
            continue
        if not _contains_break(text[start:match.end()] + match["after"]):
            continue
        sentences.append(text[last:match.end()])
        last = match.start("next") if match["next"] else match.end()
        closers = _CLOSERS.match(text, last)
        if closers:
            sentences[-1] += text[last:closers.end()]
            last = closers.end()
    sentences.append(text[last:])
    return [s.strip() for s in sentences if s.strip()]


def count_sentences(text: str) -> int:
    return len(split_sentences(text))


def count_words(text: str) -> int:
    """Runs of word characters, as the reference's `RegexpTokenizer(r"\\w+")` counts them (`don't` is 2). nltk
    (3.10) compiles it with the `regex` engine (an nltk dependency, so here through rouge-score), whose `\\w` leaves
    out numeric symbols that `re`'s takes in (`½`, `²`)."""
    import regex

    return len(regex.findall(r"\w+", text))


# NLTK's `NLTKWordTokenizer` rules (Apache-2.0), applied to each sentence as `word_tokenize` does. They decide how
# many upper-case words a text has: `DON'T` is `DO` + `N'T`, `YES,NO` is `YES` + `,` + `NO`, `WELL-KNOWN` is one.
_STARTING_QUOTES = [
    (re.compile(r"([«“‘„]|[`]+)"), r" \1 "),
    (re.compile(r"^\""), r"``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r"([ \(\[{<])(\"|\'{2})"), r"\1 `` "),
    (re.compile(r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)"), r"\1 "),
]
_PUNCTUATION = [
    (re.compile(r"([^\.])(\.)([\]\)}>\"'»”’ ]*+)\s*$"), r"\1 \2 \3 "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.{2,}"), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r"[\u2012-\u2015]"), r" \g<0> "),
    (re.compile(r"([^\.])(\.)([\]\)}>\"\']*)\s*$"), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[*]"), r" \g<0> "),
]
_PARENS_BRACKETS = (re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> ")
_DOUBLE_DASHES = (re.compile(r"--"), r" -- ")
_ENDING_QUOTES = [
    (re.compile(r"([»”’])"), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
]
_CONTRACTIONS = [re.compile(p) for p in (
    r"(?i)\b(can)(not)\b", r"(?i)\b(d)('ye)\b", r"(?i)\b(gim)(me)\b", r"(?i)\b(gon)(na)\b", r"(?i)\b(got)(ta)\b",
    r"(?i)\b(lem)(me)\b", r"(?i)\b(more)('n)\b", r"(?i)\b(wan)(na)(?=\s)", r"(?i) ('t)(is)\b", r"(?i) ('t)(was)\b",
)]


def _tokenize_sentence(text: str) -> list[str]:
    for pattern, replacement in _STARTING_QUOTES + _PUNCTUATION + [_PARENS_BRACKETS, _DOUBLE_DASHES]:
        text = pattern.sub(replacement, text)
    text = " " + text + " "
    for pattern, replacement in _ENDING_QUOTES:
        text = pattern.sub(replacement, text)
    for pattern in _CONTRACTIONS:
        text = pattern.sub(r" \1 \2 ", text)
    return text.split()


def word_tokens(text: str) -> list[str]:
    """Penn-Treebank-style tokens of every sentence, as NLTK's `word_tokenize` gives them."""
    return [token for sentence in split_sentences(text) for token in _tokenize_sentence(sentence)]
