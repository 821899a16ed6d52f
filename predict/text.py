"""Arabic text handling shared by training and labeling.

Training imports these functions from here, so the text a model was fitted on
is cleaned by exactly the code that cleans the text it labels.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache, wraps
from typing import Callable, TypeVar

T = TypeVar("T")

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
_CHAR_MAP = str.maketrans(
    {
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
        "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي",
        "،": ",", "؛": ";", "؟": "?", "٪": "%",
        "“": '"', "”": '"', "«": '"', "»": '"', "„": '"',
        "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...",
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
    }
)
_SPACES = re.compile(r"\s+")
# Unicode category Cf (format characters: ZWNJ, ZWJ, LRM/RLM, bidi controls, BOM, soft hyphen...):
# invisible, yet they split words into different n-grams. Listed for Unicode 14-15; a test checks the list.
_INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
# The Arabic letters `letter_counts` counts: hamza to yeh, and the letters of the presentation-form blocks (the
# shaped glyphs that text copied out of a PDF often holds; NFKC folds them to the letters themselves).
ARABIC_RANGES = ((0x0621, 0x064A), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
_ARABIC_LETTERS = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ARABIC_RANGES) + "]+")
_NOT_LETTER = re.compile(r"[\W\d_]+")  # keeps every letter, and numerals such as "²" that are not letters

MIN_PARAGRAPH_WORDS = 5

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE_ONLY = re.compile(r"^[\s+()\-\d٠-٩]{7,}$")
_WEEKDAYS = "الاثنين|الإثنين|الثلاثاء|الأربعاء|الاربعاء|الخميس|الجمعة|السبت|الأحد|الاحد"
_MONTHS = (
    "يناير|فبراير|مارس|أبريل|ابريل|مايو|يونيو|يوليو|أغسطس|اغسطس|سبتمبر|أكتوبر|اكتوبر|نوفمبر|ديسمبر|"
    "كانون|شباط|آذار|اذار|نيسان|أيار|ايار|حزيران|تموز|آب|اب|أيلول|ايلول|تشرين"
)
_DATE_ONLY = re.compile(
    rf"^[\s,،\-/.]*(({_WEEKDAYS})|({_MONTHS})|[\d٠-٩]+|[\s,،\-/.:])+$"
)
_READ_ALSO = re.compile(r"^\s*(اقرأ|إقرأ|اقرا|شاهد|طالع)\s+(أيضا|أيضاً|ايضا|ايضاً|كذلك)")
_DISCLAIMER_WORDS = ("تعبر", "تعبّر", "الحقوق")  # every disclaimer below holds one: substring tests rule most lines out
_DISCLAIMER = re.compile(r"(لا\s+تعبر\s+بالضرورة|تعبّر\s+عن\s+رأي\s+كتّابها|تعبر\s+عن\s+رأي\s+كتابها|جميع\s+الحقوق\s+محفوظة)")


def normalize_arabic(text: str) -> str:
    """Fold the spelling variation of Arabic news text into one form for features.

    Removes diacritics and tatweel, unifies alef/yaa/taa-marbuta/hamza-seat
    variants, maps Arabic-Indic digits to ASCII and Arabic punctuation to its
    Latin counterpart, drops invisible format characters (ZWNJ, ZWJ, bidi
    marks, BOM), lower-cases Latin letters and collapses whitespace.
    """
    text = strip_invisible(nfkc(text))
    text = _DIACRITICS.sub("", text).replace(_TATWEEL, "")
    text = text.translate(_CHAR_MAP).lower()
    return _SPACES.sub(" ", text).strip()


# Common in news text and not NFKC: each with its full compatibility decomposition (NFKD), which tests check.
PLAIN_DECOMPOSITIONS = (("\xa0", " "), ("\u2026", "..."))


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``; most news text is in NFKC already, and checking (about 0.6 µs
    a paragraph) costs little beside normalizing one that needs it (about 30 µs for a paragraph of news).

    The rest is mostly NFKC but for no-break spaces (655 of ANT's 1,544 shipped articles; no other character in
    all but one). NFKC decomposes each character on its own before composing, so writing a character as its
    full compatibility decomposition first (`PLAIN_DECOMPOSITIONS`) changes nothing in the result: when that
    is NFKC already, it is the result."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    plain = text
    for char, decomposed in PLAIN_DECOMPOSITIONS:
        if char in plain:
            plain = plain.replace(char, decomposed)
    return plain if plain is not text and unicodedata.is_normalized("NFKC", plain) else unicodedata.normalize("NFKC", text)


def strip_invisible(text: str) -> str:
    """``text`` without invisible format characters (Unicode category Cf)."""
    return _INVISIBLE.sub("", text)


# Anything neither whitespace (``\s`` is ``str.isspace``) nor invisible: a search stops at a text's first visible character.
# Anything `normalize_arabic` keeps: neither whitespace, nor invisible, nor a diacritic, nor tatweel.
_CONTENT = re.compile("[^\\s" + _INVISIBLE.pattern[1:-1] + _DIACRITICS.pattern[1:-1] + _TATWEEL + "]")


def is_blank(text: str | None) -> bool:
    """True for a text with nothing to label: empty, or only whitespace, format characters, diacritics and tatweel
    (all of which `normalize_arabic` deletes).

    The search stops at the first character that stays, so a real text costs almost nothing."""
    return not text or _CONTENT.search(text) is None


CACHED_CHARS = 2_000  # the texts `short_cached` keeps: 4,096 of them hold at most about 16 MB


def short_cached(fn: Callable[[str], T]) -> Callable[[str], T]:
    """``fn`` with its answers for the last 4,096 texts of at most `CACHED_CHARS` characters kept.

    A one-line record is checked as a record and again as its own paragraph; a longer text (a whole article)
    is asked once per record, and keeping 4,096 of them could hold hundreds of MB (100,000-character articles)."""
    cached = lru_cache(maxsize=4096)(fn)

    @wraps(fn)
    def call(text: str) -> T:
        return cached(text) if len(text) <= CACHED_CHARS else fn(text)

    return call


LONG_TEXT = 80  # characters; the regex pays per run of non-letters (80 characters of news: 4 µs, 200: 7 µs; a 7 KB
#                 article: 140 µs), NumPy about 3.5 µs a call (4 µs at 400 characters)
_LETTER_WEIGHTS = None


@short_cached
def letter_counts(text: str) -> tuple[int, int]:
    """Letters (characters with ``str.isalpha``) in ``text``, and how many of them are Arabic (`ARABIC_RANGES`).

    Counted in C rather than character by character in Python: removing ``[\\W\\d_]`` keeps
    every letter plus a few numerals (superscripts, fractions, Roman numerals), so when
    what remains is all letters its length is the count; otherwise the remains are
    counted one by one. Every kept character of the Arabic ranges is a letter (a test checks both).
    A text of `LONG_TEXT` characters or more (most paragraphs, every article) is counted with NumPy instead.
    """
    if len(text) >= LONG_TEXT:
        return _letter_counts_long(text)
    kept = _NOT_LETTER.sub("", text)
    letters = len(kept) if kept.isalpha() else sum(map(str.isalpha, kept))
    return letters, len(kept) - len(_ARABIC_LETTERS.sub("", kept))


def _letter_counts_long(text: str) -> tuple[int, int]:
    """`letter_counts` of a long text: each BMP code point looked up in a table (built once, on first use) that
    holds 1 for a letter (``str.isalpha``) and ``1 + 2**32`` for an Arabic one, so one sum gives both counts;
    the few code points above the BMP (clipped to U+FFFF, which is not a letter) are asked one by one."""
    import numpy as np

    global _LETTER_WEIGHTS
    if _LETTER_WEIGHTS is None:
        weights = np.array([c.isalpha() for c in map(chr, range(0x10000))], dtype=np.int64)
        for a, b in ARABIC_RANGES:
            weights[a:b + 1] += weights[a:b + 1] << 32
        _LETTER_WEIGHTS = weights
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    total = int(_LETTER_WEIGHTS.take(cps, mode="clip").sum())
    letters, arabic = total & 0xFFFFFFFF, total >> 32
    if len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text):  # a code point above the BMP
        letters += sum(chr(c).isalpha() for c in cps[cps > 0xFFFF].tolist())
    return letters, arabic


def has_arabic(text: str, min_share: float = 0.3) -> bool:
    """True when at least ``min_share`` of the letters in ``text`` are Arabic."""
    letters, arabic = letter_counts(text)
    if not letters:
        return False
    return arabic / letters >= min_share


def is_furniture(line: str) -> bool:
    """True for page furniture: headings, dates, contacts, 'read also', disclaimers."""
    if not has_arabic(line):
        return True
    if _PHONE_ONLY.match(line) or _DATE_ONLY.match(line):
        return True
    if _READ_ALSO.match(line) or (any(w in line for w in _DISCLAIMER_WORDS) and _DISCLAIMER.search(line)):
        return True
    words = word_count(line)
    if "@" in line and _EMAIL.search(line) and words <= 25:  # no "@", no address: the scan is skipped
        return True
    return words < MIN_PARAGRAPH_WORDS


@short_cached  # a paragraph is counted when it is segmented, and again for its weight in its article
def word_count(text: str) -> int:
    """Whitespace-separated words in ``text`` (``len(text.split())``)."""
    return len(text.split())


def segment_article(text: str) -> list[str]:
    """Split an article into content paragraphs, original text kept for display.

    A paragraph is a non-empty line; page furniture lines are dropped. The
    returned strings are stripped but otherwise unedited.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines = (line.strip() for line in text.split("\n"))
    return [line for line in lines if line and not is_furniture(line)]


def paragraphs_or_whole(text: str) -> list[str]:
    """Paragraphs for labeling: the segmented ones, or the whole text when none survive.

    A short snippet (a headline, a tweet) has no line long enough to count as a
    paragraph but is still worth labeling as a unit.
    """
    paragraphs = segment_article(text)
    if paragraphs:
        return paragraphs
    whole = _SPACES.sub(" ", text).strip()
    return [whole] if whole else []


def paragraph_hash(paragraph: str) -> str:
    """Content hash of a paragraph, stable under diacritics, spelling variants and spacing."""
    return hashlib.sha256(normalize_arabic(paragraph).encode("utf-8")).hexdigest()[:16]
