"""Near-duplicate texts: fold republications of one story (other headline, trimmed lead, editor's note).

Why MinHash + LSH: a republished copy keeps most of its 3-word shingles even when a site changes the
headline, drops the first paragraph or wraps the text in its own boilerplate; two independent reports of
one event share only a few quoted sentences. The estimated Jaccard similarity of the shingle sets
separates the two cases (see bench/bench_dedup.py and tests/stories/test_neardup.py for the measurements), and
banding the 128 MinHash values (42 bands of 3) lets one indexed SQLite query find the candidates among
100,000 stored stories; each candidate is then verified against its stored signature. SimHash was
rejected: with default features it found 1 of 100 copies with 5% of the words changed.

How the pipeline uses it (one matched article, after the GUID / URL checks of dedup.py)::

    sig = neardup.signature(article.text)
    story_id = index.find(sig)
    if story_id is None:
        story_id = store.add_story(item_id, article, match, raw_gz)
        index.add(story_id, sig)
    else:  # a republication: one story, one more source; not sent again as new
        store.add_story_source(story_id, item_id, entry.feed, entry.url, article.title, article=article)

Short texts: a text under MIN_WORDS words (typically a feed summary when the page could not be
extracted) is never folded by its text alone: `find` returns None for it and `add` does not index it.
Two 30-word summaries share too few shingles for the estimate to mean anything, and a summary against a
full article has a Jaccard near zero anyway; the GUID / canonical-URL checks still apply to such items.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from monitor.store import Store

NUM_PERM = 128
# LSH bands over 126 of the 128 values; P(candidate) = 1 - (1 - J**3)**42: 0.48 at J=0.25, 0.94 at 0.4, 0.996 at 0.5
BANDS, ROWS = 42, 3
SHINGLE = 3  # words per shingle
MIN_WORDS = 40  # shorter texts are not folded by text alone
THRESHOLD = 0.4  # estimated Jaccard at or above which two texts are one story (labelled pairs: copies >= 0.53,
#                  different reports <= 0.23, so 0.4 sits about 3 standard errors from both)
CONTAINED = 0.7  # ... or this share of the shorter text's shingles is in the longer one (an excerpt; labelled
#                  excerpts estimate 0.79-0.80, different reports at most 0.40),
MIN_CONTAINED_JACCARD = 0.25  # provided the Jaccard is at least this (a short brief quoted inside an analysis is not)
SEED = 1
SCHEME = "affine32"  # pinned: datasketch's scheme that minhash() reproduces; schemes must never be mixed
PARAMS = f"minhash-{SCHEME}-seed{SEED}-p{NUM_PERM}-w{SHINGLE}-b{BANDS}x{ROWS}-min{MIN_WORDS}-v1"

_WORD = re.compile(r"\w+")


def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The affine permutations h -> a*h + b (mod 2**32, `a` odd) of datasketch's "affine32" scheme, seed 1.

    Computed as datasketch 2.0 computes them, so signatures are bit-identical to `datasketch.MinHash(
    num_perm=128, seed=1, scheme="affine32")` (tests/stories/test_neardup.py checks it against the library): states
    written before keep their index. Why not the library itself: importing datasketch imports scipy, 0.3 s
    of every run's start-up for a dozen lines of numpy.
    """
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


_A, _B = _permutations()
_EMPTY = np.full(NUM_PERM, (1 << 32) - 1, dtype=np.uint32)


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer: a bijection that spreads the SHA-1 prefix before the permutations."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


def minhash(grams: set[bytes]) -> np.ndarray:
    """uint32[NUM_PERM]: per permutation, the least permuted hash over the shingles (SHA-1's first 4 bytes)."""
    if not grams:
        return _EMPTY.copy()
    digests = b"".join(hashlib.sha1(g).digest()[:4] for g in grams)
    hv = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32)).reshape(-1, 1)
    return (hv * _A + _B).min(axis=0)  # uint32 arithmetic wraps: that is the modulo 2**32


def normalise(text: str) -> list[str]:
    """Words of a text, compared loosely: NFKC, casefold, ё→е, punctuation and underscores dropped.

    Quotes, dashes and typography differ between sites («», "", —, -) and must not make copies differ.
    """
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е").replace("_", " ")
    return _WORD.findall(text)


@dataclass(frozen=True, eq=False)
class Signature:
    """The MinHash of one text's 3-word shingles, plus its size (small texts are not indexed)."""

    hashes: np.ndarray  # uint32[NUM_PERM]
    words: int
    shingles: int

    @property
    def indexable(self) -> bool:
        return self.words >= MIN_WORDS

    def similarity(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two shingle sets (std. error about 0.04 near 0.5)."""
        return float(np.count_nonzero(self.hashes == other.hashes)) / NUM_PERM

    def containment(self, other: Signature, jaccard: float | None = None) -> float:
        """Estimated share of the smaller shingle set found in the larger: |A & B| / min(|A|, |B|)."""
        j = self.similarity(other) if jaccard is None else jaccard
        small = min(self.shingles, other.shingles)
        if small <= 0:
            return 0.0
        return min(1.0, j * (self.shingles + other.shingles) / ((1 + j) * small))

    def same_story(self, other: Signature) -> tuple[bool, float]:
        """Whether two texts are one story, and the estimated Jaccard that ranks the match."""
        j = self.similarity(other)
        if j >= THRESHOLD:
            return True, j
        return j >= MIN_CONTAINED_JACCARD and self.containment(other, j) >= CONTAINED, j

    def band_keys(self) -> list[int]:
        """One signed 64-bit key per LSH band; two texts sharing any key are candidates."""
        raw = self.hashes.astype("<u4").tobytes()
        width = ROWS * 4
        return [
            int.from_bytes(
                hashlib.blake2b(raw[b * width : (b + 1) * width], digest_size=8, person=b"band%04d" % b).digest(),
                "little",
                signed=True,
            )
            for b in range(BANDS)
        ]

    def to_bytes(self) -> bytes:
        return self.hashes.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, words: int = MIN_WORDS, shingles: int = 0) -> Signature:
        return cls(np.frombuffer(data, dtype="<u4").astype(np.uint32), words, shingles)


def shingles(words: list[str]) -> set[bytes]:
    """Overlapping SHINGLE-word sequences; a text shorter than that is one shingle."""
    if len(words) < SHINGLE:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def signature(text: str) -> Signature:
    """The signature of an extracted text (pure: the same text gives the same signature everywhere)."""
    words = normalise(text)
    grams = shingles(words)
    return Signature(minhash(grams), len(words), len(grams))


class NearDupIndex:
    """The LSH index, kept in the SQLite state (tables neardup_sigs and neardup_bands).

    Nothing is held in memory: a lookup is one indexed query over the band keys, then candidates are
    verified by their stored signatures. When the parameters above change, the index is rebuilt from
    the stored texts the first time it is opened.
    """

    def __init__(self, store: Store):
        self.store = store
        if store.neardup_params() != PARAMS:
            self.rebuild()

    def find(self, sig: Signature) -> int | None:
        """The id of the most similar stored story that `same_story` accepts, or None.

        Ties go to the earliest story, so a copy is always folded into the first-seen one.
        """
        if not sig.indexable:
            return None
        rows = self.store.neardup_candidates(sig.band_keys())
        if not rows:
            return None
        # Verify all candidates at once: text shared by many stories (an outlet's footer that extraction
        # kept) can bring hundreds of weak candidates, and a Python loop over them would cost milliseconds.
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<u4").reshape(len(rows), NUM_PERM)
        jaccard = np.count_nonzero(matrix == sig.hashes, axis=1) / NUM_PERM
        best: tuple[float, int] | None = None
        for i in np.flatnonzero(jaccard >= min(THRESHOLD, MIN_CONTAINED_JACCARD)):
            story_id, data, shingle_count = rows[i]
            same, score = sig.same_story(Signature.from_bytes(data, shingles=shingle_count))
            if same and (best is None or (score, -story_id) > (best[0], -best[1])):
                best = (score, story_id)
        return best[1] if best else None

    def add(self, story_id: int, sig: Signature) -> None:
        """Index a story's text. Short texts are not indexed (see the module docstring).

        May also be called for a folded copy (with the story's id): later copies of that copy then
        fold into the story too.
        """
        if sig.indexable:
            self.store.neardup_add(story_id, sig.band_keys(), sig.to_bytes(), sig.words, sig.shingles)

    def rebuild(self) -> int:
        """Forget the index and index every stored text again (after a change of parameters)."""
        self.store.neardup_reset(PARAMS)
        count = 0
        for story_id, text in self.store.neardup_texts():
            sig = signature(text)
            if sig.indexable:
                self.add(story_id, sig)
                count += 1
        return count
