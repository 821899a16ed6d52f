import random
import re
from pathlib import Path

from predict.text import has_arabic, letter_counts, normalize_arabic, paragraph_hash, paragraphs_or_whole, segment_article

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "data/raw/articles"


def read(stem_prefix: str) -> str:
    return next(ARTICLES.glob(f"{stem_prefix}_*.txt")).read_text(encoding="utf-8")


def test_normalization_folds_variants_on_a_real_seed_paragraph():
    # 001: "ووقّع الرئيس الأميركي جو بايدن، قانون تفويض الدفاع الوطني للعام 2023 التي قدّمها الكونغرس"
    paragraph = next(p for p in segment_article(read("001")) if p.startswith("ووقّع"))
    norm = normalize_arabic(paragraph)
    assert "ّ" not in norm  # shadda removed
    assert norm.startswith("ووقع الرييس الاميركي جو بايدن, قانون")  # hamza seat, alef and Arabic comma folded
    assert "ة" not in norm and "أ" not in norm


def test_normalization_handles_tatweel_digits_and_punctuation():
    assert normalize_arabic("الكبتـــاغون") == "الكبتاغون"
    assert normalize_arabic("القرار ٢٢٥٤ ؟") == "القرار 2254 ?"
    assert normalize_arabic("«قسد»  ،  مُدْرَجة") == '"قسد" , مدرجه'
    assert normalize_arabic("إلى مستشفى") == normalize_arabic("الي مستشفي")


def test_segmentation_drops_page_furniture_of_seed_000():
    paragraphs = segment_article(read("000"))
    joined = "\n".join(paragraphs)
    for furniture in ("الشأن السوري", "الجمعة, 30 يونيو - 2023", "austin_tice", "+961 3 733 933",
                      "friendsofaustintice@gmail.com", "تواصل معنا", "رسائل ضغط"):
        assert furniture not in paragraphs, furniture
    assert "friendsofaustintice" not in joined
    assert paragraphs[0].startswith("الولايات المتحدة تكشف عن 4 محاور")  # the headline is content
    assert len(paragraphs) == 19


def test_segmentation_drops_read_also_and_disclaimer_lines():
    assert not any(p.startswith("اقرأ أيضا") for p in segment_article(read("001")))
    p003 = segment_article(read("003"))
    assert not any("لا تعبر بالضرورة" in p for p in p003)
    assert not any("office@ccjfd.com" in p for p in p003)


def test_segmentation_keeps_original_text_for_display():
    raw = read("002")
    for p in segment_article(raw):
        assert p in raw  # unedited: diacritics and spelling as published


def test_segmentation_handles_crlf_and_bom():
    text = "\ufeffالشأن السوري\r\n\r\nأكدت المجموعة المصغرة للتحالف الدولي أن مراكز الاحتجاز مصدر قلق\r\n"
    assert segment_article(text) == ["أكدت المجموعة المصغرة للتحالف الدولي أن مراكز الاحتجاز مصدر قلق"]


def test_short_text_is_labeled_whole():
    assert paragraphs_or_whole("عقوبات قيصر الجديدة") == ["عقوبات قيصر الجديدة"]
    assert paragraphs_or_whole("   ") == []


def test_paragraph_hash_is_stable_under_cosmetic_edits():
    p = "ووقّع الرئيس الأميركي جو بايدن قانون تفويض الدفاع"
    assert paragraph_hash(p) == paragraph_hash("ووقع   الرئيس الاميركي جو بايدن قانون تفويض الدفاع")
    assert paragraph_hash(p) != paragraph_hash(p + " الوطني")


def test_has_arabic():
    assert has_arabic("أعلنت وزارة الخزانة")
    assert not has_arabic("The Treasury announced sanctions")
    assert not has_arabic("12345 !!!")


def per_char_letter_counts(text: str) -> tuple[int, int]:
    """The definition `letter_counts` must match: the original per-character loop of `has_arabic`."""
    letters = [c for c in text if c.isalpha()]
    return len(letters), sum(1 for c in letters if re.match("[\u0621-\u064a\ufb50-\ufdff\ufe70-\ufeff]", c))


def per_char_has_arabic(text: str, min_share: float = 0.3) -> bool:
    letters, arabic = per_char_letter_counts(text)
    return bool(letters) and arabic / letters >= min_share


# Arabic letters, diacritics, tatweel and digits; Persian letters; Latin; ASCII and superscript digits,
# fractions, Roman and CJK numerals (numeric, not letters); CJK; combining marks; modifier letters;
# underscore, spaces, punctuation, format characters, emoji and a lone surrogate.
MIXED = ("ابتثجحخدذرسشصضطظعغفقكلمنهويءآأؤإئىة" "\u064b\u064e\u0651\u0652\u0670\u0640" "٠١٢٣٩۰۴" "پچژگکی"
         "abcXYZéßſĲ" "0123456789" "²³¹⁰⁴₂" "½¼¾⅓" "ⅠⅡⅫⅰⅻↀ" "〇一二三中文字" "\u0301\u0327\u20dd"
         "ʰʲˆªº" "_ \t\n.,،؛؟!-«»" "\u200c\u200f\ufeff" "😀🇸🇾" "𝐀𞤀" "\ud800")  # above the BMP: an emoji, a flag, two letters


def test_letter_counts_equal_the_per_character_loop_on_every_code_point():
    everything = "".join(map(chr, range(0x110000)))
    assert letter_counts(everything) == per_char_letter_counts(everything)
    arabic_range = "".join(map(chr, range(0x0621, 0x064B)))
    assert arabic_range.isalpha() and letter_counts(arabic_range) == (42, 42)  # the Arabic count relies on it
    shaped = "".join(c for c in map(chr, [*range(0xFB50, 0xFE00), *range(0xFE70, 0xFF00)]) if re.match(r"[^\W\d_]", c))
    assert shaped.isalpha() and letter_counts(shaped) == (len(shaped), len(shaped))  # what the regex keeps is a letter


def test_text_in_arabic_presentation_forms_is_arabic():
    """Text copied out of a PDF often holds the shaped glyphs (U+FB50-FDFF, U+FE70-FEFF): it was flagged
    not Arabic and never scored."""
    import unicodedata

    plain = "أعلنت وزارة الخزانة الأمريكية فرض عقوبات جديدة على رجال أعمال سوريين بموجب قانون قيصر"
    shaped = "".join(_isolated(c) for c in plain)
    assert shaped != plain and unicodedata.normalize("NFKC", shaped) == plain
    assert has_arabic(shaped) and has_arabic(shaped * 20)  # the short and the long (NumPy) counts


def _isolated(c: str) -> str:
    """The isolated presentation form of an Arabic letter, where Unicode has one."""
    import unicodedata

    for cp in range(0xFE70, 0xFF00):
        if unicodedata.decomposition(chr(cp)) == f"<isolated> {ord(c):04X}":
            return chr(cp)
    return c


def test_letter_counts_equal_the_per_character_loop_on_random_mixed_strings():
    rng = random.Random(13)
    for _ in range(20_000):
        text = "".join(rng.choices(MIXED, k=rng.randint(0, 40)))
        assert letter_counts(text) == per_char_letter_counts(text), ascii(text)
        for share in (0.0, 0.3, 0.5, 1.0):
            assert has_arabic(text, share) == per_char_has_arabic(text, share), (ascii(text), share)


def test_letter_counts_of_long_texts_equal_the_per_character_loop():
    """Texts of `LONG_TEXT` characters or more are counted from a table of the BMP, the rest by regex."""
    from predict.text import LONG_TEXT

    rng = random.Random(14)
    for _ in range(300):
        text = "".join(rng.choices(MIXED, k=rng.randint(LONG_TEXT - 2, 4 * LONG_TEXT)))
        assert letter_counts(text) == per_char_letter_counts(text), ascii(text[:80])


def test_has_arabic_equals_the_per_character_loop_on_every_shipped_line_and_article():
    from tests.predict.shipped_text import raw_articles, raw_lines

    for text in [*raw_lines(), *raw_articles()]:
        assert letter_counts(text) == per_char_letter_counts(text), text[:80]


def test_is_blank_and_find_invalid_equal_their_definitions():
    """Both stop early instead of copying or scanning the whole text; the answers must not change."""
    from predict.decoding import find_invalid
    from predict.text import _DIACRITICS, _TATWEEL, is_blank, normalize_arabic, strip_invisible

    def nothing_kept(text: str) -> bool:  # what `normalize_arabic` deletes: invisible, diacritics, tatweel, spaces
        return not _DIACRITICS.sub("", strip_invisible(text)).replace(_TATWEEL, "").strip()

    blank = [c for c in map(chr, range(0x110000)) if nothing_kept(c)]
    rng = random.Random(13)
    texts = [*map(chr, range(0x110000))]
    texts += ["".join(rng.choices(blank + ["ا", "a", "\ud800", "\udfff"], k=rng.randint(0, 12))) for _ in range(20_000)]
    for text in texts:
        assert is_blank(text) == nothing_kept(text), ascii(text)
        assert not is_blank(text) or normalize_arabic(text) == "", ascii(text)  # blank: nothing left to label
        surrogate = re.search("[\ud800-\udfff]", text)
        assert find_invalid(text) == (surrogate.start() if surrogate else None), ascii(text)


def test_nfkc_equals_unicodedata_on_strings_built_to_break_it():
    """`nfkc` writes a no-break space or an ellipsis as its decomposition before checking: the same result as
    ``unicodedata.normalize("NFKC", ...)`` whatever surrounds them (combining marks after them, Arabic
    presentation forms, hamza that composes with alef, other compatibility characters, astral letters)."""
    import unicodedata

    from predict.text import PLAIN_DECOMPOSITIONS, nfkc

    for char, decomposed in PLAIN_DECOMPOSITIONS:
        assert unicodedata.normalize("NFKD", char) == decomposed and not unicodedata.is_normalized("NFKC", char)
    alphabet = ["\xa0", "\u2026", " ", ".", "a", "e", "\u0301", "\u0308", "\u0327", "\u0627", "\u0654", "\u0655",
                "\u0653", "\u064b", "\u0651", "\u0670", "\ufe8d", "\ufe83", "\ufefb", "\ufdf2", "\u2460", "\ufb01",
                "\u00bd", "\u1e9b", "\u0cca", "\u1100", "\u1161", "\u11a8", "\U0001d400", "\u2002", "\u3000", "\u00b4"]
    rng = random.Random(11)
    for _ in range(20000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert nfkc(s) == unicodedata.normalize("NFKC", s), ascii(s)


def test_nfkc_equals_unicodedata_on_every_shipped_article():
    import unicodedata

    from predict.text import nfkc
    from tests.predict.shipped_text import raw_articles, raw_lines

    texts = [*raw_lines(), *raw_articles()]
    assert sum("\xa0" in t for t in texts) > 100  # the case the shortcut is for
    for text in texts:
        assert nfkc(text) == unicodedata.normalize("NFKC", text), text[:80]


def test_the_text_caches_keep_no_long_text():
    """`letter_counts` kept its last 4,096 texts whatever their length: labeling an archive of long one-line
    articles held about 580 MB of them after 3,000 articles of 96,000 characters. Only short texts are kept now."""
    import gc
    import tracemalloc

    from predict.text import CACHED_CHARS, has_arabic, word_count

    has_arabic("سوريا " * 20_000)  # the lookup table, built on first use
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(50):
            text = "سوريا " * 20_000 + str(i)  # 240 KB each as a str
            assert has_arabic(text) and word_count(text) == 20_001
        del text
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert kept < 1_000_000, kept  # 50 long texts would be about 12 MB
    short = "سوريا " * (CACHED_CHARS // 6)
    assert has_arabic(short) and word_count(short) == CACHED_CHARS // 6
