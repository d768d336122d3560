"""Names that come from outside (suite, model, group, scenario and run names, from YAML files and the store), made
safe for each place they go: a file or folder name (`slug`), the terminal and the site (`visible`)."""

from __future__ import annotations

import hashlib
import re

# Controls that reorder the text around them (U+202E shows "abc" as "cba"): LRE, RLE, PDF, LRO, RLO; the isolates
# LRI, RLI, FSI, PDI; the marks LRM, RLM and the Arabic letter mark.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# What a terminal would act on rather than print (C0 with ESC, DEL, C1 with CSI), and the bidi controls.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SLUG_CHARS = 80


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(name: object) -> str:
    """The name with every control character written as an escape (ESC as \\x1b, U+202E as \\u202e): printed to a
    terminal it cannot move the cursor, recolour or retitle it, and on a page it cannot reverse the text around it.
    Ordinary text, any script included, is unchanged."""
    return _UNSAFE.sub(_escape, str(name))


def slug(name: str) -> str:
    """A name as one file or folder name, and a relative URL, that stays where it is put: only ASCII letters,
    digits, '.', '_' and '-', never '.' or '..', never empty. A name that had to change gets a hash of itself
    appended, so two names that differ only in what was replaced (`a/b` and `a:b`, `café` and `cafè`) never share
    a folder. (A ':' left in a relative link would read as a URL scheme.)"""
    s = _SLUG_UNSAFE.sub("_", name).strip("._-")[:SLUG_CHARS]
    if s != name or not s:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()
        s = f"{s}-{digest[:8]}" if s else digest[:12]
    return s
