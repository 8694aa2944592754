"""Text -> word ids exactly as training did, from the rules stored in the model's metadata.

This re-implements `lightrnn_tf.data.Tokenizer` and `Vocabulary.encode_lines` without importing
them (the predictor must run without the training code): lowercase if the model was trained so,
then either `str.split()` or, with `split_punct`, `re.findall(split_punct_pattern)` (the pattern is
read from the metadata, so it cannot drift); each token in the Unicode normal form the metadata
names (`normalization`: NFC; files exported before it was recorded have none); unknown words map
to `<unk>`; a line ends with `<eos>`. Before all that, from rules 4 on, the invisible characters the
metadata lists as code point ranges are read as a space (`space_chars`) or removed (`remove_chars`).
"""

from __future__ import annotations

import re
import unicodedata

from lightrnn_tf.errors import LightRNNError


# Between two word characters these keep one word (lightrnn_tf.data.WORD_JOINERS; not imported: the
# predictor runs without the training code): apostrophes, ASCII and typographic, and the zero-width
# non-joiner and joiner.
WORD_JOINERS = "'\u2019\u200c\u200d"


def word_char(c: str) -> bool:
    """A character words are made of: Python's `\w` (letters, digits, `_`) or a combining mark."""
    return c.isalnum() or c == "_" or unicodedata.category(c)[0] == "M"


def joins_symbols(joiner: str, before: str) -> bool:
    """A zero-width joiner after a symbol or an emoji's modifier: it joins the next symbol to it
    ("👨" U+200D "👩"), as the tokenizer's rules (3 on) read it."""
    return joiner == "\u200d" and unicodedata.category(before) != "Cf"


APOSTROPHES = ("'", "\u2019")  # typed as either, depending on the phone's keyboard and its settings


def apostrophe_fold(words) -> dict | None:
    """The `str.translate` table a keyboard reads typed text with so that its apostrophes are the
    vocabulary's: ’ (U+2019) -> ' when words with letters hold ' and none holds ’, the reverse when
    they hold only ’, else None (both, or neither). A phone types ’ or ' depending on its keyboard
    (iOS's smart punctuation types ’); without it "don’t" is `<unk>` to a model trained on "don't"."""
    held = [any(a in w and any(c.isalpha() for c in w) for w in words) for a in APOSTROPHES]
    if held[0] == held[1]:
        return None
    vocab, other = APOSTROPHES if held[0] else APOSTROPHES[::-1]
    return str.maketrans(other, vocab)


def rules_version(tokenizer: dict) -> int:
    """The version of the tokenizer's rules (lightrnn_tf.data.TOKENIZER_RULES) of a metadata
    `tokenizer` dict: stated from 3 on; before, 2 if it names a normalization, else 1."""
    return int(tokenizer.get("rules_version", 2 if tokenizer.get("normalization") else 1))


def invisible(c: str) -> bool:
    """An invisible format character that is no part of a word (a bidi mark, a byte-order mark),
    under rules 3 and before."""
    return unicodedata.category(c) == "Cf" and c not in WORD_JOINERS


def char_class(tokenizer: dict, key: str) -> re.Pattern | None:
    """The regex class of the inclusive code point ranges `[[first, last], ...]` a metadata
    `tokenizer` dict lists under `key`, or None where it lists none (files of rules 3 and before)."""
    ranges = tokenizer.get(key)
    if ranges is None:
        if rules_version(tokenizer) >= 4:
            raise LightRNNError(f"metadata: tokenizer rules {rules_version(tokenizer)} without {key}")
        return None
    # a code point: an integral JSON number (173 or 173.0, which JavaScript cannot tell apart), not a bool
    code_point = lambda cp: (isinstance(cp, (int, float)) and not isinstance(cp, bool)  # noqa: E731
                             and cp == int(cp) and 0 <= cp <= 0x10FFFF)
    if not isinstance(ranges, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(map(code_point, r)) and r[0] <= r[1] for r in ranges):
        raise LightRNNError(f"metadata: tokenizer {key} must be a list of [first, last] code points")
    if not ranges:
        return None
    ranges = [(int(a), int(b)) for a, b in ranges]
    return re.compile("[" + "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b)))
                                    for a, b in ranges) + "]")


class TextEncoder:
    """Tokenizer and vocabulary of an exported model.

    Args:
        meta: dict from `export.metadata.read_metadata` (uses `tokenizer`, `special_tokens`, `vocab`).
        fold_apostrophes: read typed apostrophes as the vocabulary's (`apostrophe_fold`), as the
            keyboards do; the default reads text as training did. Default: `False`.
    """

    def __init__(self, meta: dict, fold_apostrophes: bool = False):
        tok = meta["tokenizer"]
        self.lowercase = bool(tok["lowercase"])
        self.split_punct = bool(tok["split_punct"])
        self._pattern = re.compile(tok["split_punct_pattern"]) if self.split_punct else None
        self.normalization = tok.get("normalization")
        self.rules_version = rules_version(tok)
        self._space_chars = char_class(tok, "space_chars")  # read as a space (rules 4 on)
        self._remove_chars = char_class(tok, "remove_chars")  # removed (rules 4 on)
        # one scan finds a line holding either (rare), so most lines skip both substitutions
        self._invisible_chars = None if self._space_chars is self._remove_chars is None else re.compile(
            "|".join(c.pattern for c in (self._space_chars, self._remove_chars) if c is not None))
        if self.normalization not in (None, "NFC"):
            raise LightRNNError(f"metadata: unknown tokenizer normalization {self.normalization!r} (this "
                                "predictor knows NFC)")
        self.words = list(meta["vocab"])
        self.index = {w: i for i, w in enumerate(self.words)}
        # one character for one, so every length and position in typed text stays as it is
        self.fold = apostrophe_fold(self.words) if fold_apostrophes else None
        special = meta["special_tokens"]
        self.unk_id, self.eos_id = int(special["<unk>"]), int(special["<eos>"])
        if self.words[self.unk_id] != "<unk>" or self.words[self.eos_id] != "<eos>":
            raise LightRNNError("metadata: special-token ids do not match the vocabulary")

    def tokenize(self, line: str, lowercase: bool | None = None) -> list[str]:
        """One line -> tokens (same as `lightrnn_tf.data.Tokenizer.__call__`). `lowercase=False`:
        the tokens as typed, for a lowercasing model too (the capitals the typed-word history shows)."""
        line = self.folded(line)
        if self._invisible_chars is not None and self._invisible_chars.search(line):
            if self._space_chars is not None:
                line = self._space_chars.sub(" ", line)
            if self._remove_chars is not None:
                line = self._remove_chars.sub("", line)
        if self.lowercase if lowercase is None else lowercase:
            line = line.lower()
        tokens = self._pattern.findall(line) if self._pattern is not None else line.split()
        if self.normalization is None or line.isascii():
            return tokens
        return [unicodedata.normalize(self.normalization, t) for t in tokens]

    def folded(self, text: str) -> str:
        """`text` with a typed apostrophe read as the vocabulary's (`fold`; as typed when it is None)."""
        return text if self.fold is None else text.translate(self.fold)

    def separates(self, c: str) -> bool:
        """Whitespace, or a character read as a space (`space_chars`: a zero-width space, NUL)."""
        return c.isspace() or self._space_chars is not None and self._space_chars.match(c) is not None

    def removed(self, c: str) -> bool:
        """One of `remove_chars` (rules 4 on: a soft hyphen, a bidi mark), which tokenizing removes."""
        return self._remove_chars is not None and self._remove_chars.match(c) is not None

    def invisible(self, c: str) -> bool:
        """An invisible character no token holds, skipped at the end of a typed word: one of
        `remove_chars`, or a format character that is no joiner and does not separate words (a tag
        character after a word, which the split_punct pattern drops)."""
        return self.removed(c) or invisible(c) and not self.separates(c)

    def typed_word(self, text: str) -> tuple[str, int]:
        """The word being typed at the end of `text` and how many of the text's last tokens it
        covers: `("", 0)` after whitespace. A joiner typed right after a word ("l’", "don'", Persian
        "می" + U+200C) is part of it, as it will be once the next letter comes, though alone it is a
        token of its own (an apostrophe) or none (a zero-width joiner); so is a zero-width joiner
        after an emoji ("👨" + U+200D, the start of "👨‍👩‍👧") under rules 3 and later, which join
        them. Invisible format characters at the end are skipped."""
        if not text or self.separates(text[-1]):
            return "", 0
        end = len(text)
        while end > 0 and self.invisible(text[end - 1]):
            end -= 1
        start = end
        while start > 0 and not self.separates(text[start - 1]):
            start -= 1
        chunk = text[start:end]  # no token spans whitespace (or what reads as it)
        tokens = self.tokenize(chunk)
        if not tokens:
            return "", 0
        before_joiner = len(chunk) - 2  # the character before a joiner at the end, removed ones skipped
        while before_joiner >= 0 and self.removed(chunk[before_joiner]):
            before_joiner -= 1
        prev = chunk[before_joiner] if before_joiner >= 0 else ""
        if prev and chunk[-1] in WORD_JOINERS and (
                word_char(prev) or self.rules_version >= 3 and joins_symbols(chunk[-1], prev)):
            before = self.tokenize(chunk[:-1])
            return self._unfinished(chunk[:-1], before[-1]) + self.folded(chunk[-1]), len(tokens) - len(before) + 1
        return self._unfinished(chunk, tokens[-1]), 1

    def _unfinished(self, typed: str, word: str) -> str:
        """`word`, the lowercased end of `typed`, as the prefix of a word still being typed: a capital
        sigma typed last is "σ", not the final "ς" lowercasing gives it ("ΜΙΣ" completes to "μισθός")."""
        if self.lowercase and typed.endswith("Σ") and word.endswith("ς"):
            return word[:-1] + "σ"
        return word

    def typed_length(self, text: str, token: str) -> int:
        """How many characters at the end of `text` make its last token `token`: lowercasing and
        the normal form can change a word's length ("cafe" + U+0301 is "café"; "İ" lowercases to
        two characters), so it is the shortest end of `text` that becomes `token`, else 0;
        invisible format characters after it (`typed_word` skips them) are counted in."""
        trail = 0
        while trail < len(text) and self.invisible(text[len(text) - 1 - trail]):
            trail += 1
        return trail + self._typed_length(text[: len(text) - trail], token)

    def _typed_length(self, text: str, token: str) -> int:
        def becomes(n):
            end = self.folded(text[-n:] if self._remove_chars is None else self._remove_chars.sub("", text[-n:]))
            end = end.lower() if self.lowercase else end
            if self.normalization is not None and not end.isascii():
                end = unicodedata.normalize(self.normalization, end)
            return self._unfinished(text[-n:], end) == token

        # The shortest: removed characters before the word stay, those inside it go with it (before
        # rules 4 at most one length could work); else 0: no end of the text is the token, so cut
        # nothing rather than the user's letters
        return next((n for n in range(1, min(len(text), 4 * len(token) + 4) + 1) if becomes(n)), 0)

    def encode_tokens(self, tokens) -> list[int]:
        get = self.index.get
        return [get(t, self.unk_id) for t in tokens]

    def encode_lines(self, text: str) -> list[int]:
        """Every non-blank line's ids followed by `<eos>` (as `Vocabulary.encode_lines`)."""
        out: list[int] = []
        for line in text.splitlines():
            if line.strip():
                out.extend(self.encode_tokens(self.tokenize(line)))
                out.append(self.eos_id)
        return out

    def encode_context(self, text: str) -> list[int]:
        """Ids of typed text before the cursor: `<eos>` first (sentence start), `<eos>` after every
        finished line, none after the last, unfinished one."""
        out = [self.eos_id]
        for line in text.splitlines(keepends=True):
            content = line.splitlines()[0] if line.splitlines() else ""
            out.extend(self.encode_tokens(self.tokenize(content)))
            if content != line and content.strip():  # a finished, non-blank line
                out.append(self.eos_id)
        return out

    def decode(self, ids) -> list[str]:
        return [self.words[int(i)] for i in ids]
