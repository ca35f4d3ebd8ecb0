"""Clean Arabic (and English) article text: display and key normalization, titles, bodies.

Two text forms:

- display (`normalize_display`): what users read. NFC; every format character (Unicode category
  Cf: ZWSP U+200B, LRM/RLM U+200E/U+200F, ALM U+061C, bidi embeddings and isolates U+202A–U+202E
  and U+2066–U+2069, U+2060–U+2064, BOM U+FEFF, soft hyphen U+00AD, ...) is deleted except ZWNJ
  U+200C (part of Persian and Kurdish spelling) and ZWJ U+200D (joins emoji); C0/C1 control
  characters are deleted; every run of spaces (NBSP U+00A0, U+2000–U+200A, U+202F, U+205F,
  U+3000, U+1680, TAB) becomes one U+0020; every non-empty line is a paragraph, and paragraphs are
  separated by one blank line. Letters, diacritics, tatweel and digits are left as written.
- key (`normalize_key`): for matching and dedupe, never shown. NFKC (presentation forms such as
  ﻻ U+FEFB become base letters), then casefold, then: all Cf characters deleted (ZWNJ and ZWJ
  too); tatweel U+0640 and Arabic marks U+0610–U+061A, U+064B–U+065F, U+0670, U+06D6–U+06ED and
  stray Latin combining marks U+0300–U+036F deleted; alef forms U+0622, U+0623, U+0625, U+0671,
  U+0672, U+0673, U+0675 -> U+0627 ا; U+0649 ى, U+06CC ی, U+06D0, U+06D2 -> U+064A ي;
  U+0629 ة, U+06C0, U+06C1, U+06BE, U+06D5 -> U+0647 ه; U+06A9 ک, U+06AA -> U+0643 ك;
  U+0624 ؤ, U+0626 ئ -> U+0621 ء; digits U+0660–U+0669 and U+06F0–U+06F9 -> ASCII 0–9,
  U+066B -> "." and U+066C -> ","; finally every character that is not a letter, digit or
  mark (all punctuation and symbols, Arabic ، ؛ ؟ « » included) separates words, and the words
  are joined by single spaces.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from lxml import etree
from lxml import html as lxml_html

from extractors import markers
from extractors.markers import PAREN_DATELINE, PLAIN_DATELINE, Hit

# Format characters (Unicode 14/15 category Cf) and control characters, as one class; the few
# outside the Basic Multilingual Plane apart: a class of BMP characters only is a bitmap lookup
# for the regex engine, one with astral ranges a scan of its ranges, about 4x slower.
_CF = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
_CF_ASTRAL = (
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f"
_DISPLAY_DELETED = f"{_CONTROLS}{_CF}".replace("\u200b-\u200f", "\u200b\u200e\u200f")
_DISPLAY_DELETE = re.compile(f"[{_DISPLAY_DELETED}]")
_KEY_DELETE = re.compile(
    f"[{_CONTROLS}{_CF}\u0640\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0300-\u036f]"
)
_ASTRAL_DELETE = re.compile(f"[{_CF_ASTRAL}]")  # deleted from both forms
_KEY_FOLDS: tuple[tuple[str, str], ...] = (
    *((c, "\u0627") for c in "\u0622\u0623\u0625\u0671\u0672\u0673\u0675"),
    *((c, "\u064a") for c in "\u0649\u06cc\u06d0\u06d2"),
    *((c, "\u0647") for c in "\u0629\u06c0\u06c1\u06be\u06d5"),
    *((c, "\u0643") for c in "\u06a9\u06aa"),
    *((c, "\u0621") for c in "\u0624\u0626"),
)
_DIGITS = {
    **{0x0660 + i: str(i) for i in range(10)},
    **{0x06F0 + i: str(i) for i in range(10)},
    0x066B: ".",
    0x066C: ",",
}
_EASTERN_DIGIT = re.compile("[\u0660-\u0669\u06f0-\u06f9\u066b\u066c]")
_NON_WORD = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W_]+")
_LETTER = re.compile(r"[^\W\d_]")
_SENTENCE_END = re.compile(r"[.!?؟:…»\"”)]\s*$")


def normalize_display(text: str) -> str:
    """Display form: NFC, invisible characters gone, spaces collapsed, one blank line between
    paragraphs (each non-empty line is one), no leading or trailing space. See the module doc."""
    return "\n\n".join(_display_lines(text))


def _display_lines(text: str) -> list[str]:
    if _has_astral(text) or _display_odd().search(text):
        text = unicodedata.normalize("NFC", _deleted(_DISPLAY_DELETE, text))
    else:
        # Most extracted texts: nothing to delete, no space but " " and "\n" (and NFC makes
        # none), so splitlines() is split("\n"); without two spaces together, each line's
        # split-and-join is a strip, and costs no string per word.
        text = unicodedata.normalize("NFC", text)
        if "  " not in text:
            return [line for line in (raw.strip(" ") for raw in text.split("\n")) if line]
    return [line for line in (" ".join(raw.split()) for raw in text.splitlines()) if line]


@functools.cache
def _display_odd() -> re.Pattern[str]:
    """_DISPLAY_DELETE's characters, and every other character of the BMP but " " and "\\n"
    that str.split() or str.splitlines() splits at (the regex's \\s is str.isspace)."""
    bmp = "".join(map(chr, range(0x10000)))
    spaces = re.escape("".join(re.findall(r"[^\S \n]", _DISPLAY_DELETE.sub("", bmp))))
    return re.compile(f"[{_DISPLAY_DELETED}{spaces}]")


def _has_astral(text: str) -> bool:
    """Whether text has a character outside the BMP (its UTF-16 is then longer)."""
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def _deleted(regex: re.Pattern[str], text: str) -> str:
    """text without the characters of regex (_DISPLAY_DELETE or _KEY_DELETE), and of
    _ASTRAL_DELETE."""
    text = regex.sub("", text)
    return _ASTRAL_DELETE.sub("", text) if _has_astral(text) else text


def fold_text(text: str) -> str:
    """The key form before punctuation is dropped (letters folded, digits ASCII, marks and
    invisible characters gone, lower-case, one space between words): for parsers, such as
    dates.py, that need punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if len(text) >= _ARRAY_MIN_CHARS:
        return " ".join(_decoded(_mapped(text, _FOLD)).split())
    return " ".join(_fold_chars(text).split())


def normalize_key(text: str) -> str:
    """Matching and dedupe form: words of `fold_text` with all punctuation and symbols removed,
    joined by single spaces. The exact code points are listed in the module doc."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if len(text) >= _ARRAY_MIN_CHARS:
        codes = _mapped(text, _KEY)
        codes[codes == _LINE_BREAK] = _SPACE
        return _squeezed(codes)
    # Words are the runs of word characters: whitespace is not one, so this is the same as
    # turning every other run into a space and splitting.
    return " ".join(_WORD.findall(_fold_chars(text)))


def _fold_chars(text: str) -> str:
    """fold_text's character steps, on NFKC and case-folded text: deletions, folds, digits."""
    text = _deleted(_KEY_DELETE, text)
    for src, dst in _KEY_FOLDS:
        if src in text:
            text = text.replace(src, dst)
    if _EASTERN_DIGIT.search(text):
        text = text.translate(_DIGITS)
    return text


# Longer texts (a page's lines, a long paragraph) take the character steps of the key and of
# fold_text through a table lookup over their code points in numpy: every such step maps one
# character to at most one, so a table gives the same text as the regex and replace passes, at
# a fraction of their cost (on bench/synthetic_site's pages: the keys of a page's lines, which
# give its body's key too, in ~50 µs instead of ~80, and ~200 more for the body; a body's key
# alone in ~35 µs instead of ~200). Shorter texts would pay more in numpy's call overhead: these
# are where the two ways cost the same.
_ARRAY_MIN_CHARS = 300  # normalize_key, fold_text
_LINES_ARRAY_MIN_CHARS = 160  # _line_keys, which saves a call per line besides
_DELETED = 0xFFFFFFFF  # table value of a character that is deleted
_SPACE, _LINE_BREAK = ord(" "), ord("\n")
_FOLD, _KEY = range(2)  # the tables


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(fold, key) tables over the Basic Multilingual Plane, derived from the regexes and folds
    above (built on first use, ~10 ms): a character's code point after fold_text's character
    steps, and after normalize_key's, where every character that is not a word character (regex
    \\w but "_") becomes " " ("\\n" stays, so that _line_keys can split at it); _DELETED where
    the character is deleted. Outside the BMP no character folds; some are deleted
    (_ASTRAL_DELETE)."""
    bmp = "".join(map(chr, range(0x10000)))
    fold = np.arange(0x10000, dtype=np.uint32)
    for src, dst in (*_KEY_FOLDS, *((chr(cp), d) for cp, d in _DIGITS.items())):
        fold[ord(src)] = ord(dst)
    fold[_codes(_KEY_DELETE.sub("\0", bmp)) == 0] = _DELETED  # U+0000 is deleted too
    non_word = _codes(re.sub(r"[\W_]", "\0", bmp)) == 0
    key = np.where(non_word[fold & 0xFFFF], np.uint32(_SPACE), fold)
    key[fold == _DELETED] = _DELETED
    key[_LINE_BREAK] = _LINE_BREAK
    return fold, key


def _line_keys(lines: list[str]) -> dict[str, str]:
    """normalize_key of each display line and of the prefix _match_marker reads of a long one,
    from one table lookup over all of them: the key's steps never cross a line break (NFKC does
    not compose across one, the others map single characters) and never make one, so the joined
    text splits back into the lines' keys."""
    lines = [*lines, *(_prefix(line) for line in lines if _is_long(line))]
    text = unicodedata.normalize("NFKC", "\n".join(lines)).casefold()
    if len(text) >= _LINES_ARRAY_MIN_CHARS:
        keys = _squeezed(_mapped(text, _KEY)).split("\n")
        if len(keys) == len(lines):  # always: display lines hold no line break
            return dict(zip(lines, keys, strict=True))
    return {line: normalize_key(line) for line in lines}


class _Keys(dict[str, str]):
    """Display line -> normalize_key, for the lines of one clean_body call: filled for all of
    its lines at once (_line_keys), computed on demand for others (a line split_dateline cut)."""

    def __missing__(self, line: str) -> str:
        key = self[line] = normalize_key(line)
        return key


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def _decoded(codes: np.ndarray) -> str:
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


def _mapped(text: str, form: int) -> np.ndarray:
    """The code points of text, each replaced by its value in a table (_FOLD or _KEY), deleted
    ones dropped."""
    table = _tables()[form]
    codes = _codes(text)
    if codes.max() < 0x10000:
        out = table[codes]
    else:  # emoji and other astral characters: kept, or deleted
        out = table[codes & 0xFFFF]
        astral = codes >= 0x10000
        out[astral] = [_astral(int(c), form) for c in codes[astral]]
    return out[out != _DELETED]


def _squeezed(codes: np.ndarray) -> str:
    """The text of code points whose only spaces are " " and "\\n", each line made
    " ".join(line.split()): a space is kept after a word character (the first of a run), and
    then only before one (not at the end of a line)."""
    space = codes == _SPACE
    keep = ~space
    keep[1:] |= ~(space[:-1] | (codes[:-1] == _LINE_BREAK))
    codes = codes[keep]
    ends_line = np.ones(len(codes), bool)
    ends_line[:-1] = codes[1:] == _LINE_BREAK
    return _decoded(codes[~((codes == _SPACE) & ends_line)])


@functools.lru_cache(maxsize=1024)
def _astral(code: int, form: int) -> int:
    """The table value of a character outside the BMP."""
    char = chr(code)
    if _ASTRAL_DELETE.match(char):
        return _DELETED
    return _SPACE if form == _KEY and _NON_WORD.match(char) else code


# -- titles ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanTitle:
    """A headline without site name and urgency marker; is_breaking says one was there."""

    title: str | None
    is_breaking: bool


_URGENT = r"(?:خبر\s+)?ع\u0640*ا\u0640*ج\u0640*ل(?:\s+جدا)?"
_URGENT_EN = r"(?:breaking(?:\s+news)?|urgent|just\s+in)"
_BREAKING_START = re.compile(
    rf"^[\[(«]?\s*(?:{_URGENT}\s*[\])»]?\s*(?:[:|\-–—.]+\s*|\s+)"
    rf"|{_URGENT_EN}\s*[\])»]?\s*[:|\-–—]+\s*|\[{_URGENT_EN}\]\s*)",
    re.IGNORECASE,
)
_BREAKING_END = re.compile(
    rf"\s*(?:[-|–—:]+\s*[\[(]?|[\[(])\s*(?:{_URGENT}|{_URGENT_EN})\s*[\])]?\s*$", re.IGNORECASE
)
_URGENT_ONLY = re.compile(rf"[\[(«]?\s*(?:{_URGENT}|{_URGENT_EN})\s*[\])»]?[:!]?", re.IGNORECASE)
_TITLE_SEP = re.compile(r"\s*(?:\||–|—|::|(?<=\s)[-:](?=\s)|(?<=\s)-|-(?=\s))\s*")


def clean_title(title: str | None, *, site_names: Sequence[str] = ()) -> CleanTitle:
    """Strip a site-name suffix or prefix (the built-in outlets and site_names, after or before
    - | – — :) and urgency markers ("- عاجل", "عاجل |", "عاجل:", "[عاجل]", "Breaking:").
    The title is None when nothing is left."""
    if not title:
        return CleanTitle(None, False)
    text = " ".join(normalize_display(title).split())
    names = _site_keys(tuple(site_names))
    breaking = False
    while text:
        match = _BREAKING_START.match(text) or _BREAKING_END.search(text)
        if match or _URGENT_ONLY.fullmatch(text):
            text = (text[: match.start()] + text[match.end() :]).strip() if match else ""
            breaking = True
            continue
        seps = list(_TITLE_SEP.finditer(text))
        if seps and normalize_key(text[seps[-1].end() :]) in names:
            text = text[: seps[-1].start()].strip()
            continue
        if seps and normalize_key(text[: seps[0].start()]) in names:
            text = text[seps[0].end() :].strip()
            continue
        break
    return CleanTitle(text or None, breaking)


@functools.lru_cache(maxsize=16)
def _title_keys(title: str | None) -> frozenset[str]:
    """Keys of a title and of its clean form: a first body line with one of them repeats it.
    Cached: build_article cleans the page's text and the feed's with the same title."""
    return frozenset(normalize_key(t) for t in (title, clean_title(title).title) if t) - {""}


@functools.lru_cache(maxsize=64)
def _site_keys(site_names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(k for k in map(normalize_key, (*markers.OUTLETS, *site_names)) if k)


# -- feed descriptions ----------------------------------------------------------------------------
_BLOCK_TAGS = frozenset(
    ("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr",
     "table", "section", "article", "figure", "figcaption", "pre", "hr", "dd", "dt", "header",
     "footer")
)  # fmt: skip
_STILL_HTML = re.compile(r"<(?:p|br|div|a|img|span|strong|em)\b[^>]*>", re.IGNORECASE)


def html_to_text(fragment: str) -> str:
    """Display text of an HTML fragment (a feed's description or content): tags removed,
    entities decoded, block elements as paragraphs, scripts and styles dropped. '' if empty."""
    text = _fragment_text(fragment)
    if _STILL_HTML.search(text):  # escaped twice by the feed
        text = _fragment_text(text)
    return normalize_display(text)


def _fragment_text(fragment: str) -> str:
    fragment = _deleted(_DISPLAY_DELETE, fragment or "")  # lxml refuses control characters
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return html.unescape(re.sub(r"<[^>]*>", " ", fragment))
    for element in list(root.iter("script", "style", "noscript", "template")):
        element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            if element.tag.lower() != "br":
                element.text = "\n" + (element.text or "")
    return root.text_content()


# -- bodies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanBody:
    """A body without boilerplate, and what was moved out of it.

    removed holds every line that was cut or dropped, in order (for debugging)."""

    body: str | None
    dateline: str | None
    attribution: str | None
    tags: tuple[str, ...]
    removed: tuple[str, ...]
    # normalize_key(body), from the keys of its lines that cleaning computed: fingerprinting
    # reads it instead of normalizing the body again. Not compared: it follows from body.
    key: str | None = field(default=None, compare=False, repr=False)


def match_marker(line: str) -> Hit | None:
    """The first boilerplate catalogue entry (extractors/markers.py) that matches this display
    line, with its value (the text of an attribution or tag line), or None."""
    return _match_marker(line, _Keys())


def _match_marker(line: str, keys: _Keys) -> Hit | None:
    """match_marker, taking the line's key (or its prefix's) from keys."""
    return markers.first_match(line, keys[_prefix(line) if _is_long(line) else line])


def _is_long(line: str) -> bool:
    return line.count(" ") >= markers.FULL_KEY_WORDS


def _prefix(line: str) -> str:
    """The words of a long line whose key markers are matched on (see markers.FULL_KEY_WORDS):
    " ".join(line.split(" ", PREFIX_WORDS)[:PREFIX_WORDS]), without copying the rest."""
    if found := _PREFIX.match(line):
        return line[: found.end() - 1]
    return " ".join(line.split(" ", markers.PREFIX_WORDS)[: markers.PREFIX_WORDS])


_PREFIX = re.compile(f"(?:[^ ]* ){{{markers.PREFIX_WORDS}}}")


_AGENCY_KEYS = frozenset(normalize_key(a) for a in (*markers.AGENCIES, *markers.OUTLETS))
_GLUED_MIN_WORDS = 30  # a dateline opens a glued-on article only after this much of the first


def _is_sentence(words: str) -> bool:
    return bool(set(normalize_key(words).split()) & markers.NOT_DATELINE_WORDS)


# A dateline form matches only where one of these follows its head (see markers: DASH, and the
# "sep" of outlet_dateline and PLAIN_DATELINE).
_DATELINE_SEPARATORS = ("-", "–", "—", "/", ":")


def split_dateline(line: str, known_outlets: Sequence[str] = ()) -> tuple[str, str] | None:
    """(dateline, rest of the line) when the line opens with a dateline, else None.

    Recognised: an outlet's own ("بغداد اليوم - المثنى", "شفق نيوز/"), a city with an agency in
    brackets ("بيروت (رويترز) -", "(رويترز) -"), a city and a known agency ("دمشق - سانا"), and
    one or two words and a dash before a lead of at least five words ("الأنبار - أعادت ...")."""
    if m := markers.outlet_match(line, tuple(known_outlets)):
        rest = m["rest"]
        place = markers.PLACE.match(rest) if m["sep"].strip()[:1] in "-–—" else None
        if place or (rest and " " not in rest and m["sep"].strip()[:1] in "-–—"):
            end = place.end() if place else len(rest)
            return f"{line[: m.start('rest')]}{rest[:end]}".strip(), rest[end:].strip(" ،,:")
        return m["outlet"].strip(), rest.strip()
    if m := PAREN_DATELINE.match(line):
        if _is_sentence(m["head"]):
            return None
        return line[: m.end("agency") + 1].strip(), m["rest"].strip()
    if m := PLAIN_DATELINE.match(line):
        head, rest = m["head"], m["rest"].strip()
        if normalize_key(rest) in _AGENCY_KEYS:
            return line, ""
        if normalize_key(head) in _AGENCY_KEYS:
            return head, rest
        lead = rest.split()
        if (
            len(lead) >= 5
            and not _is_sentence(head)
            and not any(w[:1] in "-–—" or w[-1:] in "-–—" for w in lead[:4])
        ):
            return head, rest
    return None


def _opens_glued_article(line: str, known_outlets: tuple[str, ...]) -> bool:
    """A dateline in the middle of a body that can only open another article: an outlet's own,
    a bare "city - agency" line, or a city with a known agency in brackets."""
    if not any(sep in line for sep in _DATELINE_SEPARATORS):  # what every dateline form needs
        return False
    if (m := markers.outlet_match(line, known_outlets)) and m["sep"].strip()[:1] in "-–—/":
        return True
    if (m := PAREN_DATELINE.match(line)) and normalize_key(m["agency"]) in _AGENCY_KEYS:
        return not _is_sentence(m["head"])
    found = split_dateline(line, known_outlets)
    return found is not None and found[1] == ""


def clean_body(
    text: str, *, title: str | None = None, known_outlets: Sequence[str] = ()
) -> CleanBody:
    """Clean trafilatura's plain text of an article.

    Removes the catalogue's boilerplate (extractors/markers.py) wherever it is: related-article
    boxes, tag lines (kept as tags), follow/share prompts and channel promotions, copyright,
    most-read lists, comment sections, and any second article glued on after such a marker or
    after another outlet's dateline. Moves "المصدر: X" to attribution and a leading dateline to
    dateline; drops a first line that repeats the title. body is None when nothing is left."""
    outlets = tuple(o for o in known_outlets if o)
    lines = [part for line in _display_lines(text) for part in markers.split_glued(line, outlets)]
    keys = _Keys(_line_keys(lines))
    title_keys = _title_keys(title)
    removed: list[str] = []

    while lines:  # leading lines: a repeated title, date lines, share bars
        hit = _match_marker(lines[0], keys)
        if not (keys[lines[0]] in title_keys or (hit and hit.marker.action == "drop_line")):
            break
        removed.append(lines.pop(0))

    dateline = None
    for k, line in enumerate(lines[:3]):  # after at most two short lines (subtitle, caption)
        if found := split_dateline(line, outlets):
            dateline = found[0]
            lines[k : k + 1] = [found[1]] if found[1] else []
            break
        if not _is_link_title(line):
            break

    total_words = sum(line.count(" ") + 1 for line in lines)
    body: list[str] = []
    words = 0
    attribution: str | None = None
    tags: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not any(c.isalnum() for c in line):
            removed.append(line)
            i += 1
            continue
        if words >= _GLUED_MIN_WORDS and _opens_glued_article(line, outlets):
            removed.extend(lines[i:])
            break
        hit = _match_marker(line, keys)
        if hit is None:
            body.append(line)
            words += line.count(" ") + 1
            i += 1
            continue
        if hit.marker.action == "drop_line":
            removed.append(line)
            i += 1
            continue
        if hit.marker.links and (
            end := _links_end(lines, i, hit, words, total_words, outlets, keys)
        ):
            removed.extend(lines[i:end])
            i = end
            continue
        attribution, tags = _read_footer(lines, i, keys)
        removed.extend(lines[i:])
        break

    while body and not _LETTER.search(body[-1]):  # trailing counters, "17302"
        removed.append(body.pop())
    return CleanBody(
        body="\n\n".join(body) or None,
        key=" ".join(k for k in map(keys.__getitem__, body) if k) if body else None,
        dateline=dateline or None,
        attribution=attribution,
        tags=tuple(dict.fromkeys(tags)),
        removed=tuple(removed),
    )


def _is_link_title(line: str) -> bool:
    return line.count(" ") < 15 and not _SENTENCE_END.search(line)


def _links_end(
    lines: list[str],
    i: int,
    hit: Hit,
    words: int,
    total: int,
    outlets: tuple[str, ...],
    keys: _Keys,
) -> int | None:
    """Where a related-links marker's block ends when the same article goes on after it (the
    block is then dropped), or None when the rest is another article or a footer (cut).

    A marker line with its own title is one link. Otherwise the link titles after it form the
    block; it is dropped when article text follows and the marker is early, heads a list, or
    is followed by several titles: one "read also" title and more text is a glued article."""
    nxt = lines[i + 1] if i + 1 < len(lines) else None
    if len(hit.value.split()) >= 3:
        return i + 1 if nxt is None or not _opens_glued_article(nxt, outlets) else None
    end = i + 1
    while end < len(lines) and end - i <= 8 and _is_link_title(lines[end]):
        if _opens_glued_article(lines[end], outlets) or _match_marker(lines[end], keys):
            return None
        end += 1
    if (
        end >= len(lines)
        or _opens_glued_article(lines[end], outlets)
        or _match_marker(lines[end], keys)
    ):
        return None
    early = words < 0.25 * total
    return end if early or hit.marker.links == "list" or end - i > 2 else None


def _read_footer(lines: list[str], i: int, keys: _Keys) -> tuple[str | None, list[str]]:
    """Attribution and tags from the footer lines from i on, up to the next cut marker."""
    attribution: str | None = None
    tags: list[str] = []
    while i < len(lines):
        hit = _match_marker(lines[i], keys)
        if hit is None or hit.marker.action == "cut_rest":
            break
        if hit.marker.action == "attribution":
            attribution = attribution or hit.value
        elif hit.marker.action == "tags":
            found = _split_tags(hit.value)
            while not found and i + 1 < len(lines) and lines[i + 1].count(" ") < 5:
                if not _is_link_title(lines[i + 1]) or _match_marker(lines[i + 1], keys):
                    break
                i += 1  # the tags follow one per line
                tags.append(lines[i].strip(" .:()[]«»\"'"))
            tags.extend(found)
        i += 1
    return attribution, tags


_TAG_SEPARATORS = re.compile(r"\s*(?:[،,؛;|#•·/]|\s[-–]\s)\s*")


def _split_tags(value: str) -> list[str]:
    """Tags from a tag line: split at separators, else (tags that were links) at spaces."""
    parts = _TAG_SEPARATORS.split(value) if _TAG_SEPARATORS.search(value) else value.split()
    cleaned = (p.strip(" .:()[]«»\"'") for p in parts)
    return [p for p in cleaned if _LETTER.search(p) and p.casefold() != "tags"]
