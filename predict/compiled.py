"""The linear scorer's hot loop compiled with Numba: the same numbers as `predict.linear`, for big batches.

`predict.linear.LinearScorer` computes TF-IDF, term features and scores with NumPy, but
looks up every word and n-gram from Python. Here one compiled pass over the batch's code
points does that work: tokens, character n-grams within word boundaries, the lexicon and
gazetteer tries, sublinear TF-IDF with l2 norm per block, and the dot product with the
coefficients. It computes exactly what `LinearScorer` computes (`tests/predict/test_linear_parity.py`):

- A character n-gram is looked up by an exact integer key: each character of the
  vocabulary's alphabet gets a small code, and an n-gram's key packs its codes. An
  n-gram with a character outside that alphabet cannot be a column.
- A word token is looked up by a 64-bit hash and then compared character by character
  with the vocabulary's token, so a hash collision cannot make a wrong column.
- The term groups share one trie, walked once from each position for every group that may
  start there: for each group the longest term that starts there counts, and that group
  resumes after it, as `predict.features.count_terms` does for one group.

Numba is imported only once a scorer has labeled enough texts to pay for it
(`predict.linear.COMPILED_AFTER_TEXTS`); the compiled functions are cached on disk
(``cache=True``), so only the first run on a machine compiles them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from predict.features import WORD_END
from predict.text import nfkc


UNUSED_BY_NUMBA = ("scipy", "cffi")


@contextmanager
def hidden_from_numba() -> Iterator[None]:
    """scipy and cffi made unimportable for a moment, each unless it is loaded already (training).

    Numba imports scipy to check its version, and its first compiled call imports scipy.linalg
    (0.2 s) to look for a BLAS, and cffi with its C parser (25-60 ms) to type cffi functions; the loops
    here use neither. Hidden, both imports raise ImportError and Numba goes on without them, so labeling
    never loads scipy (`tests/predict/test_linear_parity.py`) nor cffi.
    """
    hidden = [name for name in UNUSED_BY_NUMBA if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import scipy...` raises ImportError
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


with hidden_from_numba():
    from numba import njit


EMPTY = -1
BMP = 0x10000
SUPPORTED_TOKEN_PATTERNS = {r"(?u)\b\w+\b": 1, r"(?u)\b\w\w+\b": 2}  # token pattern -> shortest token


class Unsupported(ValueError):
    """A model whose features the compiled loop does not compute (it is then scored by NumPy)."""


# ---------------------------------------------------------------- hash tables (open addressing, int64 keys)

@njit(cache=True, nogil=True, inline="always")
def _slot(key: np.int64, mask: np.int64) -> np.int64:
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64(h >> np.uint64(20)) & mask


@njit(cache=True, nogil=True)
def _build_table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, bool]:
    """The table, and whether every key was new (False: a key came twice)."""
    size = 16
    while size < 2 * len(keys):
        size *= 2
    table = np.full((size, 2), EMPTY, np.int64)  # key and value side by side: one cache line per probe
    mask = np.int64(size - 1)
    unique = True
    for i in range(len(keys)):
        s = _slot(keys[i], mask)
        while table[s, 0] != EMPTY and table[s, 0] != keys[i]:
            s = (s + 1) & mask
        if table[s, 0] == keys[i]:
            unique = False
        table[s, 0], table[s, 1] = keys[i], values[i]
    return table, unique


@njit(cache=True, nogil=True, inline="always")
def _get(table: np.ndarray, key: np.int64) -> np.int64:
    mask = np.int64(len(table) - 1)
    s = _slot(key, mask)
    while True:
        k = table[s, 0]
        if k == key:
            return table[s, 1]
        if k == EMPTY:
            return EMPTY
        s = (s + 1) & mask


def hash_table(keys: list[int] | np.ndarray, values: list[int] | np.ndarray) -> np.ndarray:
    table, unique = _build_table(np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=np.int64))
    if not unique:
        raise Unsupported("duplicate keys")
    return table


# ---------------------------------------------------------------- characters

@njit(cache=True, nogil=True, inline="always")
def _flags(cp: np.int64, bmp: np.ndarray, astral: np.ndarray, astral_flags: np.ndarray) -> np.int8:
    """A code point's flags (`WORD`, `SPACE`, `DELETE`): the BMP from a table, others from the batch's own sorted list.

    The hot loops test ``cp < BMP`` and read the table themselves before calling this: written so, `_fold` ran
    in 8 µs instead of 58 for a 7 KB article (the same numbers; the inlined call alone kept the loop slow)."""
    if cp < BMP:
        return bmp[cp]
    i = np.searchsorted(astral, cp)
    if i < len(astral) and astral[i] == cp:
        return astral_flags[i]
    return np.int8(0)


WORD, SPACE, DELETE = 1, 2, 4


@njit(cache=True, nogil=True, inline="always")
def _token_hash(cps: np.ndarray, start: np.int64, end: np.int64) -> np.int64:
    h = np.uint64(1469598103934665603)
    for j in range(start, end):
        h = (h ^ np.uint64(cps[j])) * np.uint64(1099511628211)
    return np.int64(h >> np.uint64(1))


@njit(cache=True, nogil=True)
def _token_hashes(chars: np.ndarray, off: np.ndarray) -> np.ndarray:
    out = np.empty(len(off) - 1, np.int64)
    for i in range(len(out)):
        out[i] = _token_hash(chars, off[i], off[i + 1])
    return out


with hidden_from_numba():  # Numba's first call loads its NumPy support, which looks for scipy's BLAS: made here
    _token_hashes(np.zeros(0, np.int64), np.zeros(1, np.int64))


@njit(cache=True, nogil=True, inline="always")
def _find_token(cps, j, k, tok_table, tok_chars, tok_off) -> np.int64:
    """The id of the known token ``cps[j:k]``, or EMPTY: found by hash, then checked character by character."""
    tid = _get(tok_table, _token_hash(cps, j, k))
    if tid == EMPTY:
        return EMPTY
    a, b = tok_off[tid], tok_off[tid + 1]
    if b - a != k - j:
        return EMPTY
    for t in range(k - j):
        if tok_chars[a + t] != cps[j + t]:
            return EMPTY
    return tid


# ---------------------------------------------------------------- normalization (`predict.text.normalize_arabic`, after NFKC)

@njit(cache=True, nogil=True)
def _fold(cps, starts, ends, bmp, astral, astral_flags, char_map, exp_ptr, exp_chars):
    """Delete, map and collapse spaces as `normalize_arabic` does after NFKC; texts come back joined by 0.

    ``char_map[cp]`` is the mapped code point, or ``-(k + 2)`` for the k-th multi-character
    expansion (``exp_chars[exp_ptr[k]:exp_ptr[k + 1]]``); code points above the BMP are not mapped.
    """
    longest = 1
    for k in range(len(exp_ptr) - 1):
        longest = max(longest, exp_ptr[k + 1] - exp_ptr[k])
    out = np.empty(len(cps) * longest + len(starts), np.int64)
    n = 0
    for i in range(len(starts)):
        if i:
            out[n] = 0
            n += 1
        started, pending = False, False
        for j in range(starts[i], ends[i]):
            cp = cps[j]
            f = bmp[cp] if cp < BMP else _flags(cp, bmp, astral, astral_flags)  # see `_flags`
            if f & DELETE:
                continue
            if f & SPACE:
                pending = started
                continue
            if pending:
                out[n] = 32
                n += 1
                pending = False
            started = True
            m = char_map[cp] if cp < BMP else cp
            if m >= 0:
                out[n] = m
                n += 1
            else:
                k = -m - 2
                for t in range(exp_ptr[k], exp_ptr[k + 1]):
                    out[n] = exp_chars[t]
                    n += 1
    return out[:n]


# ---------------------------------------------------------------- the batch kernel

@njit(cache=True, nogil=True, inline="always")
def _grams(pad, size, lo, hi, bits, gram_table, cols, n):
    """Append the columns of a padded word's character n-grams (``pad[:size]``, alphabet codes) to ``cols``."""
    for g in range(lo, hi + 1):
        for a in range(max(size - g + 1, 1)):
            key = np.int64(0)
            ok = True
            for t in range(min(g, size - a)):
                code = pad[a + t]
                if code == 0:
                    ok = False
                    break
                key |= np.int64(code) << np.int64(bits * t)
            if ok:
                col = _get(gram_table, key)
                if col != EMPTY:
                    cols[n] = col
                    n += 1
        if size <= g:  # scikit-learn counts a short word once, at its first n
            break
    return n


@njit(cache=True, nogil=True)
def _token_grams(tok_chars, tok_off, alpha, lo, hi, bits, gram_table):
    """Each known token's character n-gram columns, as ``(ptr, cols)``: most words of a text are known tokens."""
    ptr = np.zeros(len(tok_off), np.int64)
    total = 0
    for t in range(len(tok_off) - 1):
        total += (hi - lo + 1) * (tok_off[t + 1] - tok_off[t] + 2)
    cols = np.empty(total, np.int64)
    pad = np.empty(tok_off[-1] - tok_off[0] + 2 if len(tok_off) > 1 else 2, np.int64)
    n = 0
    for t in range(len(tok_off) - 1):
        a, b = tok_off[t], tok_off[t + 1]
        pad[0] = alpha[32]
        for j in range(a, b):
            pad[j - a + 1] = alpha[tok_chars[j]] if tok_chars[j] < len(alpha) else 0
        pad[b - a + 1] = alpha[32]
        n = _grams(pad, b - a + 2, lo, hi, bits, gram_table, cols, n)
        ptr[t + 1] = n
    return ptr, cols[:n]


@njit(cache=True, nogil=True)
def _tfidf_into(out_row, cols, n, counts, touched, weights, offset, tf_table):
    """Add one block's l2-normalized sublinear TF-IDF of one text, dotted with the coefficients, to ``out_row``.

    ``weights[offset + c]`` is column c's idf, then its idf times each class's coefficient: one row read per column.
    ``tf_table[k]`` is ``1 + log(k)`` for the small counts most columns have."""
    m = 0
    for t in range(n):
        c = cols[t]
        if counts[c] == 0:
            touched[m] = c
            m += 1
        counts[c] += 1
    if m == 0:
        return
    n_out = len(out_row)
    acc = np.zeros(n_out)
    norm = 0.0
    for t in range(m):
        c = touched[t]
        k = counts[c]
        tf = tf_table[k] if k < len(tf_table) else 1.0 + np.log(k)
        counts[c] = 0
        row = weights[offset + c]
        v = tf * row[0]
        norm += v * v
        for k in range(n_out):
            acc[k] += tf * row[k + 1]
    norm = np.sqrt(norm)
    for k in range(n_out):
        out_row[k] += acc[k] / norm


@njit(cache=True, nogil=True)
def _score(cps, starts, ends, bmp, astral, astral_flags,
           w_on, w_min_len, w_lo, w_hi, tok_table, tok_chars, tok_off, uni_col, pair_table, n_tokens, w_size, w_offset,
           c_on, c_lo, c_hi, c_bits, alpha, gram_table, tg_ptr, tg_cols, c_size, c_offset,
           weights, n_out):
    """Raw scores of the TF-IDF blocks for each normalized text ``cps[starts[i]:ends[i]]`` (no intercept, no term features)."""
    n_texts = len(starts)
    out = np.zeros((n_texts, n_out))
    counts = np.zeros(max(w_size, c_size), np.int32)
    longest = 0
    for i in range(n_texts):
        longest = max(longest, ends[i] - starts[i])
    touched = np.empty((c_hi - c_lo + 1) * (longest + 2) + 2 * longest + 2, np.int64)
    cols = np.empty(len(touched), np.int64)
    pad = np.empty(longest + 2, np.int64)
    tf_table = np.zeros(64)
    for k in range(1, 64):
        tf_table[k] = 1.0 + np.log(np.int32(k))  # the very call `_tfidf_into` makes for larger counts
    for i in range(n_texts):
        s, e = starts[i], ends[i]
        if w_on:
            n = 0
            prev = EMPTY
            j = s
            while j < e:
                cp = cps[j]
                if not ((bmp[cp] if cp < BMP else _flags(cp, bmp, astral, astral_flags)) & WORD):
                    j += 1
                    continue
                k = j
                while k < e and ((bmp[cps[k]] if cps[k] < BMP else _flags(cps[k], bmp, astral, astral_flags)) & WORD):
                    k += 1
                if k - j >= w_min_len:
                    tid = _find_token(cps, j, k, tok_table, tok_chars, tok_off)
                    if w_lo <= 1 and tid != EMPTY and uni_col[tid] != EMPTY:
                        cols[n] = uni_col[tid]
                        n += 1
                    if w_hi >= 2 and tid != EMPTY and prev != EMPTY:
                        col = _get(pair_table, prev * n_tokens + tid)
                        if col != EMPTY:
                            cols[n] = col
                            n += 1
                    prev = tid
                j = k
            _tfidf_into(out[i], cols, n, counts, touched, weights, w_offset, tf_table)
        if c_on:
            n = 0
            j = s
            while j < e:
                if cps[j] == 32:
                    j += 1
                    continue
                k = j
                while k < e and cps[k] != 32:
                    k += 1
                tid = _find_token(cps, j, k, tok_table, tok_chars, tok_off) if len(tg_ptr) > 1 else EMPTY
                if tid != EMPTY:  # a known token: its n-grams were found once, when the model was loaded
                    for t in range(tg_ptr[tid], tg_ptr[tid + 1]):
                        cols[n] = tg_cols[t]
                        n += 1
                else:
                    size = k - j + 2  # the word with a space on each side
                    pad[0] = alpha[32]
                    for t in range(k - j):
                        pad[t + 1] = alpha[cps[j + t]]
                    pad[size - 1] = alpha[32]
                    n = _grams(pad, size, c_lo, c_hi, c_bits, gram_table, cols, n)
                j = k
            _tfidf_into(out[i], cols, n, counts, touched, weights, c_offset, tf_table)
    return out


@njit(cache=True, nogil=True)
def _count_terms(cps, starts, ends, bmp, astral, astral_flags, first, child_table, plain, word_end, shift, n_groups, active):
    """Non-overlapping longest matches of each term group (the bits of ``active``) in each text, in one walk.

    All groups share one trie: ``plain[node]`` and ``word_end[node]`` are the bit masks of the groups
    with a term ending there (a word-end term only where no word character follows). Each group scans
    as on its own: from a start position it takes its longest match and goes on after it, else at the
    next position; one walk from a position serves every group that may start there.
    ``first[cp]`` is the root's child for a BMP code point (EMPTY: no term starts with it); the root is node 0.
    """
    out = np.zeros((len(starts), n_groups), np.int64)
    nxt = np.empty(n_groups, np.int64)  # each group's next allowed start
    last = np.empty(n_groups, np.int64)  # each group's longest match end in the current walk
    one = np.int64(1)
    for i in range(len(starts)):
        s, e = starts[i], ends[i]
        nxt[:] = s
        for p in range(s, e):
            cp = cps[p]
            node = np.int64(first[cp]) if cp < BMP else _get(child_table, cp)
            if node == EMPTY:
                continue
            eligible = np.int64(0)
            for g in range(n_groups):
                if (active >> g) & one and p >= nxt[g]:
                    eligible |= one << g
            if eligible == 0:
                continue
            found = np.int64(0)
            j = p + 1
            while True:
                here = plain[node]
                if word_end[node] != 0 and (j == e or not (_flags(cps[j], bmp, astral, astral_flags) & WORD)):
                    here |= word_end[node]
                here &= eligible
                if here != 0:
                    found |= here
                    for g in range(n_groups):
                        if (here >> g) & one:
                            last[g] = j
                if j == e:
                    break
                node = _get(child_table, (node << shift) | cps[j])
                if node == EMPTY:
                    break
                j += 1
            if found != 0:
                for g in range(n_groups):
                    if (found >> g) & one:
                        out[i, g] += 1
                        nxt[g] = last[g]
    return out


# ---------------------------------------------------------------- tables built from a fitted scorer

_BMP_TABLES: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None


def _deleted(chars: str) -> set[str]:
    """The characters of ``chars`` that `normalize_arabic` deletes (invisible, diacritics, tatweel)."""
    from predict.text import _DIACRITICS, _TATWEEL, strip_invisible

    kept = set(_DIACRITICS.sub("", strip_invisible(chars)).replace(_TATWEEL, ""))
    return set(chars) - kept


def char_flags(chars: str) -> np.ndarray:
    """`WORD` (Python's ``\\w``), `SPACE` (``\\s``) and `DELETE` flags of each character."""
    deleted = _deleted(chars)
    return np.array([(WORD if (c.isalnum() or c == "_") else 0) | (SPACE if c.isspace() else 0) | (DELETE if c in deleted else 0)
                     for c in chars], dtype=np.int8)


def bmp_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flags and `normalize_arabic`'s character map for every BMP code point, built once from `predict.text`."""
    global _BMP_TABLES
    if _BMP_TABLES is None:
        from predict.text import _CHAR_MAP

        chars = "".join(map(chr, range(BMP)))
        flags = char_flags(chars)
        char_map = np.arange(BMP, dtype=np.int64)
        expansions: list[str] = []
        if any(cp >= BMP for cp in _CHAR_MAP):
            raise Unsupported("the character map has a key above the BMP")
        for cp, target in _CHAR_MAP.items():
            target = "" if target is None else (chr(target) if isinstance(target, int) else target)
            if len(target) == 1:
                char_map[cp] = ord(target)
            elif not target:
                flags[cp] |= DELETE
            else:
                char_map[cp] = -(len(expansions) + 2)
                expansions.append(target)
        exp_ptr = np.concatenate([[0], np.cumsum([len(t) for t in expansions])]).astype(np.int64)
        exp_chars = np.array([ord(c) for c in "".join(expansions)] or [0], dtype=np.int64)
        _BMP_TABLES = flags, char_map, exp_ptr, exp_chars
    return _BMP_TABLES


def code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texts' code points in one array, and where each text starts and ends in it."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    ends = np.cumsum(lengths)
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    return cps, ends - lengths, ends


def astral_flags(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The batch's code points above the BMP (sorted) and their flags."""
    high = cps[cps >= BMP]
    if not len(high):
        return np.zeros(0, np.int64), np.zeros(0, np.int8)
    high = np.unique(high)
    return high, char_flags("".join(map(chr, high)))


class NormalizedBatch:
    """Texts through `normalize_arabic`, as one array of code points with each text's start and end."""

    def __init__(self, texts: list[str]):
        if any("\x00" in t for t in texts):
            raise Unsupported("a text holds NUL, the batch's separator")
        bmp, char_map, exp_ptr, exp_chars = bmp_tables()
        cps, starts, ends = code_points([nfkc(t) for t in texts])
        astral, flags = astral_flags(cps)
        folded = _fold(cps, starts, ends, bmp, astral, flags, char_map, exp_ptr, exp_chars)
        joined = folded.astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
        lowered = joined.lower()  # last, on the whole batch: NUL between texts is neither cased nor case-ignorable
        if lowered != joined:
            folded = np.frombuffer(lowered.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        bounds = np.flatnonzero(folded == 0)
        self.cps = folded
        self.starts = np.concatenate([[0], bounds + 1]).astype(np.int64)
        self.ends = np.concatenate([bounds, [len(folded)]]).astype(np.int64)
        self.astral, self.astral_flags = astral_flags(folded)

    def texts(self) -> list[str]:
        """The normalized texts as strings (for tests)."""
        joined = self.cps.astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
        return joined.split("\x00")


def _vocabulary_arrays(block: Any) -> tuple[list[str], np.ndarray]:
    """A TF-IDF block's terms and their columns, in the vocabulary's order."""
    if len(block.vocabulary) == len(block.terms):  # built from its terms, each once: column = position
        return block.terms, np.arange(len(block.terms), dtype=np.int64)
    return list(block.vocabulary), np.fromiter(block.vocabulary.values(), np.int64, len(block.vocabulary))


class CompiledLinear:
    """The TF-IDF blocks and term groups of a `LinearScorer`, as arrays for the compiled loop."""

    def __init__(self, scorer: Any):
        self.n_out = scorer.coef_t.shape[1]
        idf = np.concatenate([b.idf for b in scorer.blocks])
        self.weights = np.ascontiguousarray(np.column_stack([idf, idf[:, None] * scorer.coef_t[:len(idf)]]))
        self.word: tuple | None = None
        self.char: tuple | None = None
        self.tokens: tuple | None = None
        blocks = {b.analyzer: (b, off) for b, off in zip(scorer.blocks, scorer.offsets)}
        if len(blocks) != len(scorer.blocks) or set(blocks) - {"word", "char_wb"}:
            raise Unsupported(f"blocks {[b.analyzer for b in scorer.blocks]}")
        if "word" in blocks:
            self.word = self._word_tables(*blocks["word"])
        if "char_wb" in blocks:
            self.char = self._char_tables(*blocks["char_wb"])
        groups = list(scorer.terms.lexicon) + list(scorer.terms.gazetteer) if scorer.terms else []
        self.tries = self._tries([terms for _, terms in groups]) if groups else None

    def _word_tables(self, block: Any, offset: int) -> tuple:
        min_len = SUPPORTED_TOKEN_PATTERNS.get(block.token_re.pattern if block.token_re else "")
        lo, hi = block.ngram_range
        if min_len is None or hi > 2 or lo < 1:
            raise Unsupported("word block")
        terms, cols = _vocabulary_arrays(block)
        joined = "\n".join(terms)  # each term's tokens are split by " "; "\n" splits the terms
        flat = joined.replace("\n", " ").split(" ") if terms else []  # every term's tokens, in order: one split
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if np.count_nonzero(cps == 10) != max(len(terms) - 1, 0):
            raise Unsupported("word block: a term holds a line break")
        term_of = np.cumsum(cps == 10)  # the term each character belongs to
        n_parts = np.bincount(term_of[cps == 32], minlength=len(terms)).astype(np.int64) + 1
        if len(n_parts) and n_parts.max() > 2:
            raise Unsupported("word block")
        names = list(dict.fromkeys(flat))  # the vocabulary's tokens, each once
        ids = np.fromiter(map(dict(zip(names, range(len(names)))).__getitem__, flat), np.int64, len(flat))
        chars = np.frombuffer("".join(names).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        off = np.concatenate([[0], np.cumsum(np.fromiter(map(len, names), np.int64, len(names)))]).astype(np.int64)
        tok_table = hash_table(_token_hashes(chars, off), np.arange(len(names)))  # equal hashes: Unsupported
        self.tokens = (tok_table, chars, off)
        first = np.cumsum(n_parts) - n_parts  # each term's first token in ``ids``
        uni = np.full(max(len(names), 1), EMPTY, np.int64)
        one = n_parts == 1
        uni[ids[first[one]]] = cols[one]
        n_tokens = max(len(names), 1)
        two = n_parts == 2
        pair_table = hash_table(ids[first[two]] * n_tokens + ids[first[two] + 1], cols[two])
        return (min_len, lo, hi, tok_table, chars, off, uni, pair_table, n_tokens, len(block.idf), offset)

    def _char_tables(self, block: Any, offset: int) -> tuple:
        lo, hi = block.ngram_range
        terms, cols = _vocabulary_arrays(block)
        cps = np.frombuffer("".join(terms).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        alphabet = np.union1d(cps, [ord(" ")])  # sorted code points
        bits = max(len(alphabet).bit_length(), 1)
        if bits * hi > 62 or len(alphabet) >= 2**15:
            raise Unsupported("char block")
        alpha = np.zeros(0x110000, np.int16)  # codes < 2**15 (bits * hi <= 62, hi >= 1)
        alpha[alphabet] = np.arange(1, len(alphabet) + 1)
        lengths = np.fromiter(map(len, terms), np.int64, len(terms))
        if len(lengths) and lengths.min() < 1:
            raise Unsupported("char block: an empty term")
        starts = np.cumsum(lengths) - lengths
        position = np.arange(len(cps)) - np.repeat(starts, lengths)
        codes = alpha[cps].astype(np.int64) << (bits * position)  # one term's codes never share a bit: OR is a sum
        keys = np.add.reduceat(codes, starts) if len(terms) else np.zeros(0, np.int64)
        gram_table = hash_table(keys, cols)
        if self.tokens is not None:
            _, chars, off = self.tokens
            tg_ptr, tg_cols = _token_grams(chars, off, alpha, lo, hi, bits, gram_table)
        else:
            tg_ptr, tg_cols = np.zeros(1, np.int64), np.zeros(1, np.int64)
        return (lo, hi, bits, alpha, gram_table, tg_ptr, tg_cols, len(block.idf), offset)

    @staticmethod
    def _tries(groups: list[tuple[str, ...]]) -> tuple:
        """Every group's terms in one trie: child table keyed by (node, code point), and per node the bit masks
        of the groups whose terms end there (plainly, or at a word end)."""
        if len(groups) > 62:
            raise Unsupported(f"{len(groups)} term groups (at most 62)")
        children: dict[tuple[int, int], int] = {}
        plain, word_end = [0], [0]  # node 0 is the root
        for g, terms in enumerate(groups):
            for term in terms:
                chars = term.removesuffix(WORD_END)
                if not chars:
                    raise Unsupported(f"term {term!r}")
                node = 0
                for ch in chars:
                    nxt = children.get((node, ord(ch)))
                    if nxt is None:
                        nxt = children[(node, ord(ch))] = len(plain)
                        plain.append(0)
                        word_end.append(0)
                    node = nxt
                if term.endswith(WORD_END) and len(term) > 1:
                    word_end[node] |= 1 << g  # a plain end of the same group wins: it needs no word end
                else:
                    plain[node] |= 1 << g
        shift = 21  # code points take 21 bits
        first = np.full(BMP, EMPTY, np.int32)
        for (node, cp), child in children.items():
            if node == 0 and cp < BMP:
                first[cp] = child
        table = hash_table([(a << shift) | c for a, c in children], list(children.values()))
        return (first, table, np.array(plain, np.int64), np.array(word_end, np.int64), shift, len(groups))

    def block_scores(self, batch: NormalizedBatch) -> np.ndarray:
        """Scores of the TF-IDF blocks (no intercept) of a normalized batch."""
        empty_i, one, table = np.zeros(1, np.int64), np.zeros(1, np.int64), np.full((1, 2), EMPTY, np.int64)
        w = self.word or (1, 1, 1, table, empty_i, empty_i, empty_i, table, 1, 0, 0)
        c = self.char or (1, 1, 1, empty_i, table, one, empty_i, 0, 0)
        return _score(batch.cps, batch.starts, batch.ends, bmp_tables()[0], batch.astral, batch.astral_flags,
                      self.word is not None, *w, self.char is not None, *c, self.weights, self.n_out)

    def term_counts(self, batch: NormalizedBatch, first_group: int = 0) -> np.ndarray:
        """Matches of each term group (lexicon topics, then gazetteer groups) from ``first_group`` on, in each text."""
        first, table, plain, word_end, shift, n_groups = self.tries
        active = np.int64(sum(1 << g for g in range(first_group, n_groups)))
        return _count_terms(batch.cps, batch.starts, batch.ends, bmp_tables()[0], batch.astral, batch.astral_flags,
                            first, table, plain, word_end, shift, n_groups, active)[:, first_group:]
