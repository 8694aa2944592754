package org.lightrnn.keyboard.engine;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The training tokenizer (lightrnn_tf.data.Tokenizer), from the rules in the model's metadata:
 * lowercase if the model was trained so, then the split_punct pattern or whitespace splitting;
 * unknown words map to {@code <unk>}; a finished line ends with {@code <eos>}.
 */
public final class Tokenizer {
  private static final String WORD = "\\p{L}\\p{N}_"; // Python's str \w: isalnum() or '_'
  // Python's str \s (str.isspace), a class body: \p{IsWhite_Space} lacks U+001C-U+001F
  private static final String SPACE =
      "\\t\\n\\u000B\\f\\r\\u001C-\\u001F \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
  private static final Pattern WHITESPACE = Pattern.compile("[" + SPACE + "]+");

  private final boolean lowercase;
  private final Pattern pattern;
  private final boolean nfc;
  private final int rulesVersion; // of the tokenizer's rules: 3 joins emoji with a zero-width joiner
  private final int[][] spaceChars; // read as a space (rules 4 on), else null
  private final int[][] removeChars; // removed (rules 4 on), else null
  private final Map<String, Integer> index = new HashMap<>();
  // typed apostrophe -> the vocabulary's (export/text.py apostrophe_fold), or 0: one char for one
  private final char foldFrom;
  private final char foldTo;
  public final int unkId;
  public final int eosId;

  public Tokenizer(ModelMetadata meta) {
    lowercase = meta.lowercase;
    pattern = meta.splitPunct ? Pattern.compile(pythonPattern(meta.splitPunctPattern)) : null;
    nfc = "NFC".equals(meta.normalization);
    rulesVersion = meta.rulesVersion;
    spaceChars = meta.spaceChars;
    removeChars = meta.removeChars;
    for (int i = 0; i < meta.vocab.size(); i++) index.put(meta.vocab.get(i), i);
    char[] fold = apostropheFold(meta.vocab);
    foldFrom = fold == null ? 0 : fold[0];
    foldTo = fold == null ? 0 : fold[1];
    unkId = meta.unkId;
    eosId = meta.eosId;
  }

  /**
   * {typed, vocabulary's} apostrophe a keyboard reads typed text with (export/text.py
   * apostrophe_fold): ’ -> ' when words with letters hold ' and none holds ’, the reverse when they
   * hold only ’, else null. A phone types either (iOS's smart punctuation types ’).
   */
  static char[] apostropheFold(List<String> words) {
    boolean[] held = new boolean[2];
    char[] apostrophes = {'\'', '\u2019'};
    for (String w : words) {
      for (int a = 0; a < 2; a++) {
        if (!held[a] && w.indexOf(apostrophes[a]) >= 0 && w.codePoints().anyMatch(Character::isLetter)) held[a] = true;
      }
    }
    if (held[0] == held[1]) return null;
    return held[0] ? new char[] {'\u2019', '\''} : new char[] {'\'', '\u2019'};
  }

  /** {@code text} with the typed apostrophe read as the vocabulary's. */
  public String folded(String text) {
    return foldFrom == 0 ? text : text.replace(foldFrom, foldTo);
  }

  /**
   * A Python {@code re} pattern using \w and \s -> the same meaning in java.util.regex. Inside a
   * class, the combining marks the training pattern lists as literal ranges (beside \w, joined over
   * word characters and unassigned code points) become one {@code \p{M}}: java.util.regex tests a
   * class's ranges one by one, which made tokenizing about 20 times slower.
   */
  static String pythonPattern(String src) {
    return pythonPattern(src, true);
  }

  /** {@link #pythonPattern(String)}, with the marks kept as listed when {@code marksAsProperty} is false. */
  static String pythonPattern(String src, boolean marksAsProperty) {
    StringBuilder out = new StringBuilder();
    boolean inClass = false, marks = false;
    for (int i = 0; i < src.length(); ) {
      int c = src.codePointAt(i);
      i += Character.charCount(c);
      if (c == '\\' && i < src.length()) {
        char n = src.charAt(i++);
        if (n == 'w') out.append(inClass ? WORD : "[" + WORD + "]");
        else if (n == 's') out.append(inClass ? SPACE : "[" + SPACE + "]");
        else out.append('\\').append(n);
        continue;
      }
      if (inClass && c != ']') { // a class item: a character, or a range c-end
        int end = -1;
        if (i + 1 < src.length() && src.charAt(i) == '-' && src.charAt(i + 1) != ']') {
          end = src.codePointAt(i + 1);
          i += 1 + Character.charCount(end);
        }
        // marks, or a range between two (only word characters lie between): one \p{M}
        if (marksAsProperty && isMark(c) && (end < 0 || isMark(end))) {
          if (!marks) out.append("\\p{M}");
          marks = true;
        } else {
          out.appendCodePoint(c);
          if (end >= 0) out.append('-').appendCodePoint(end);
        }
        continue;
      }
      if (c == '[' && !inClass) {
        inClass = true;
        marks = false;
      } else if (c == ']') {
        inClass = false;
      }
      out.appendCodePoint(c);
    }
    return out.toString();
  }

  private static boolean isMark(int c) {
    int t = Character.getType(c);
    return t == Character.NON_SPACING_MARK || t == Character.COMBINING_SPACING_MARK || t == Character.ENCLOSING_MARK;
  }

  /** Python's str.splitlines() line ends (\r\n, \n, \r, \u000B, \f, \u001C-\u001E, \u0085, \u2028, \u2029) -> '\n'. */
  public static String normalizeLines(String text) {
    return LINE_BREAKS.matcher(text).replaceAll("\n");
  }

  private static final Pattern LINE_BREAKS = Pattern.compile("\r\n|[\n\u000B\f\r\u001C\u001D\u001E\u0085\u2028\u2029]");

  /** The tokens of the end of a line ({@link #lastTokens}) and where in the line their text starts. */
  public static final class LineEnd {
    public final List<String> tokens;
    public final int cut;

    LineEnd(List<String> tokens, int cut) {
      this.tokens = tokens;
      this.cut = cut;
    }
  }

  /**
   * The tokens of the end of {@code line}, with at least {@code need} not in {@code special} (all of the
   * line's if it has fewer): a growing tail cut at whitespace or what reads as it (a zero-width
   * space), where no token spans (export/keyboard.py _last_tokens), so a long line costs what its end does.
   */
  public LineEnd lastTokens(String line, int need, java.util.Set<String> special) {
    for (long span = 16L * (need + 1); span < line.length(); span *= 2) {
      int cut = (int) (line.length() - span);
      while (cut > 0 && !separates(line.charAt(cut - 1))) cut--;
      List<String> tokens = tokenize(line.substring(cut));
      int kept = 0;
      for (String t : tokens) if (!special.contains(t)) kept++;
      if (kept >= need) return new LineEnd(tokens, cut);
    }
    return new LineEnd(tokenize(line), 0);
  }

  /**
   * Tokens after which a sentence (or a quotation, a parenthesis) may start: a capital there may be
   * the sentence's (export/keyboard.py SENTENCE_STARTS_AFTER).
   */
  static final java.util.Set<String> SENTENCE_STARTS_AFTER = new java.util.HashSet<>(java.util.Arrays.asList(
      ".", "!", "?", "…", "。", "！", "？", "؟", "।", ":", "\"", "'", "“", "‘", "«", "(", "[", "{", "¿", "¡", "—", "–", "-"));

  /**
   * For each of {@code tokens} (those of {@code line.substring(cut)}), the token as typed where its
   * capitals are the word's own (a capital inside it, or a first one away from a sentence start), ""
   * where it was typed in lowercase (which forgets capitals seen before), else null; all null where
   * typed and lowercased tokens do not align (export/keyboard.py _typed_capitals).
   */
  public List<String> typedCapitals(String line, int cut, List<String> tokens) {
    List<String> typed = tokenize(line.substring(cut), false);
    List<String> out = new ArrayList<>();
    for (int j = 0; j < tokens.size(); j++) {
      String s = typed.size() == tokens.size() ? typed.get(j) : null;
      if (s != null && s.equals(tokens.get(j))) {
        out.add("");
        continue;
      }
      if (s == null || s.isEmpty()) {
        out.add(null);
        continue;
      }
      boolean inside = false;
      for (int i = Character.charCount(s.codePointAt(0)); i < s.length(); i += Character.charCount(s.codePointAt(i))) {
        inside |= Character.isUpperCase(s.codePointAt(i));
      }
      boolean sentenceStart = j == 0 || SENTENCE_STARTS_AFTER.contains(typed.get(j - 1));
      out.add(inside || (Character.isUpperCase(s.codePointAt(0)) && !sentenceStart) ? s : null);
    }
    return out;
  }

  /** Python's {@code not line.strip()}: only whitespace (String.trim strips U+0000-U+0020 instead). */
  private static boolean isBlank(String line) {
    for (int i = 0; i < line.length(); i++) if (!isSpace(line.charAt(i))) return false;
    return true;
  }

  /** Whitespace as the tokenizer splits on it: Python's str.isspace (the SPACE class). */
  static boolean isSpace(char c) {
    return (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
        || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
  }

  public List<String> tokenize(String line) {
    return tokenize(line, lowercase);
  }

  /** {@link #tokenize(String)}; {@code lower} false: the tokens as typed, for a lowercasing model too. */
  public List<String> tokenize(String line, boolean lower) {
    line = withoutInvisible(folded(line));
    if (lower) line = line.toLowerCase(Locale.ROOT);
    List<String> out = new ArrayList<>();
    if (pattern != null) {
      Matcher m = pattern.matcher(line);
      while (m.find()) out.add(m.group());
    } else {
      for (String t : WHITESPACE.split(line)) if (!t.isEmpty()) out.add(t);
    }
    if (nfc && !isAscii(line)) out.replaceAll(t -> Normalizer.normalize(t, Normalizer.Form.NFC));
    return out;
  }

  /** {@code line} with the characters of spaceChars as a space and those of removeChars removed (export/text.py tokenize). */
  private String withoutInvisible(String line) {
    if (spaceChars == null && removeChars == null) return line;
    StringBuilder out = null;
    for (int i = 0; i < line.length(); ) {
      int c = line.codePointAt(i);
      boolean space = in(spaceChars, c), removed = !space && in(removeChars, c);
      if ((space || removed) && out == null) out = new StringBuilder(line.length()).append(line, 0, i);
      if (out != null) {
        if (space) out.append(' ');
        else if (!removed) out.appendCodePoint(c);
      }
      i += Character.charCount(c);
    }
    return out == null ? line : out.toString();
  }

  private static boolean in(int[][] ranges, int c) {
    if (ranges == null) return false;
    for (int[] r : ranges) if (r[0] <= c && c <= r[1]) return true;
    return false;
  }

  /** Whitespace, or a character read as a space (spaceChars: a zero-width space, NUL) (export/text.py separates). */
  boolean separates(char c) {
    return isSpace(c) || in(spaceChars, c);
  }

  /** One of removeChars (rules 4 on: a soft hyphen, a bidi mark), which tokenizing removes (export/text.py removed). */
  boolean removed(int c) {
    return in(removeChars, c);
  }

  /**
   * An invisible character no token holds (export/text.py invisible): one of removeChars, or a
   * format character that is no joiner and does not separate words (a tag after a word).
   */
  boolean invisible(int c) {
    return removed(c) || (isInvisible(c) && !(c <= 0xFFFF && separates((char) c)));
  }

  private static boolean isAscii(String s) {
    for (int i = 0; i < s.length(); i++) if (s.charAt(i) > 0x7f) return false;
    return true;
  }

  /**
   * How many chars at the end of {@code text} make its last token {@code token}: the shortest end
   * that lowercases and normalizes to it (export/text.py typed_length), else 0.
   */
  public int typedLength(String text, String token) { // invisible format characters after the word count in
    int trail = 0;
    while (trail < text.length() && invisible(text.codePointBefore(text.length() - trail))) {
      trail += Character.charCount(text.codePointBefore(text.length() - trail));
    }
    return trail + typedLengthOf(text.substring(0, text.length() - trail), token);
  }

  private int typedLengthOf(String text, String token) {
    // The shortest: removed characters before the word stay, those inside it go with it (before
    // rules 4 at most one length could work); else 0: no end of the text is the token, so cut
    // nothing rather than the user's letters
    for (int n = 1; n <= Math.min(text.length(), 4 * token.length() + 4); n++) {
      if (becomes(text, n, token)) return n;
    }
    return 0;
  }

  private boolean becomes(String text, int n, String token) {
    String end = folded(removeChars == null ? text.substring(text.length() - n) : withoutInvisible(text.substring(text.length() - n)));
    if (lowercase) end = end.toLowerCase(Locale.ROOT);
    if (nfc) end = Normalizer.normalize(end, Normalizer.Form.NFC);
    return unfinished(text.substring(text.length() - n), end).equals(token);
  }

  public int id(String token) {
    Integer i = index.get(token);
    return i == null ? unkId : i;
  }

  /** Ids of the text before the cursor: {@code <eos>} first and after every finished non-blank line. */
  public List<Integer> encodeContext(String text) {
    return encodeLines(normalizeLines(text).split("\n", -1));
  }

  /** {@link #encodeContext} of text already split at its line ends. */
  private List<Integer> encodeLines(String[] lines) {
    List<Integer> out = new ArrayList<>();
    out.add(eosId);
    for (int i = 0; i < lines.length; i++) {
      for (String t : tokenize(lines[i])) out.add(id(t));
      if (i < lines.length - 1 && !isBlank(lines[i])) out.add(eosId);
    }
    return out;
  }

  /** The committed ids and the word being typed ("" after whitespace), as KeyboardPredictor.split_typed. */
  public Typed splitTyped(String text) {
    text = normalizeLines(text);
    String[] lines = text.split("\n", -1);
    List<Integer> ids = encodeLines(lines);
    TypedWord w = typedWord(text);
    return new Typed(ids.subList(0, ids.size() - w.covered), w.word);
  }

  /** Between two word characters these keep one word (lightrnn_tf.data.WORD_JOINERS). */
  static final String JOINERS = "'\u2019\u200C\u200D";

  /** The word being typed and how many of the text's last tokens it covers. */
  public static final class TypedWord {
    public final String word;
    public final int covered;

    TypedWord(String word, int covered) {
      this.word = word;
      this.covered = covered;
    }
  }

  /**
   * The word being typed at the end of {@code text} (export/text.py typed_word): "" after
   * whitespace; a joiner right after a word ("l’", "don'", Persian "می" + U+200C) belongs to it, and
   * a zero-width joiner after an emoji ("👨" + U+200D); invisible format characters at the end are skipped.
   */
  public TypedWord typedWord(String text) {
    if (text.isEmpty() || separates(text.charAt(text.length() - 1))) return new TypedWord("", 0);
    int end = text.length();
    while (end > 0 && invisible(text.codePointBefore(end))) end -= Character.charCount(text.codePointBefore(end));
    int start = end;
    while (start > 0 && !separates(text.charAt(start - 1))) start--;
    String chunk = text.substring(start, end); // no token spans whitespace (or what reads as it)
    List<String> tokens = tokenize(chunk);
    if (tokens.isEmpty()) return new TypedWord("", 0);
    char last = chunk.charAt(chunk.length() - 1);
    int beforeJoiner = chunk.length() - 1; // the character before a joiner at the end, removed ones skipped
    while (beforeJoiner > 0 && removed(chunk.codePointBefore(beforeJoiner))) {
      beforeJoiner -= Character.charCount(chunk.codePointBefore(beforeJoiner));
    }
    int prev = beforeJoiner > 0 ? chunk.codePointBefore(beforeJoiner) : -1;
    if (prev >= 0 && JOINERS.indexOf(last) >= 0
        && (isWordChar(prev) || (rulesVersion >= 3 && last == '\u200D' && Character.getType(prev) != Character.FORMAT))) {
      List<String> before = tokenize(chunk.substring(0, chunk.length() - 1));
      return new TypedWord(unfinished(chunk.substring(0, chunk.length() - 1), before.get(before.size() - 1)) + folded(String.valueOf(last)),
          tokens.size() - before.size() + 1);
    }
    return new TypedWord(unfinished(chunk, tokens.get(tokens.size() - 1)), 1);
  }

  /** A capital sigma typed last is "σ" in a word still being typed, not the final "ς" (export/text.py). */
  private String unfinished(String typed, String word) {
    if (lowercase && typed.endsWith("Σ") && word.endsWith("ς")) return word.substring(0, word.length() - 1) + "σ";
    return word;
  }

  /** A character words are made of: Python's \w (letters, digits, _) or a combining mark (export/text.py word_char). */
  static boolean isWordChar(int c) {
    int t = Character.getType(c);
    return Character.isLetter(c) || Character.isDigit(c) || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER
        || c == '_' || isMark(c);
  }

  /**
   * How many chars {@code text} starts with that continue a word: word characters, joiners followed
   * by one, and removed characters before either (export/keyboard.py word_prefix_length).
   */
  int wordPrefixLength(String text) {
    int n = 0;
    while (true) {
      int m = skipRemoved(text, n);
      if (m < text.length() && isWordChar(text.codePointAt(m))) {
        n = m + Character.charCount(text.codePointAt(m));
      } else if (m < text.length() && JOINERS.indexOf(text.charAt(m)) >= 0 && skipRemoved(text, m + 1) < text.length()
          && isWordChar(text.codePointAt(skipRemoved(text, m + 1)))) {
        n = m + 1;
      } else {
        return n;
      }
    }
  }

  /** The index past the removed characters of {@code text} from {@code i}. */
  private int skipRemoved(String text, int i) {
    while (i < text.length() && removed(text.codePointAt(i))) i += Character.charCount(text.codePointAt(i));
    return i;
  }

  /** An invisible format character that is no part of a word (export/text.py invisible). */
  static boolean isInvisible(int c) {
    return Character.getType(c) == Character.FORMAT && (c > 0xFFFF || JOINERS.indexOf((char) c) < 0);
  }

  /** Committed ids ({@code <eos>} first) and the partial word. */
  public static final class Typed {
    public final List<Integer> committed;
    public final String partial;

    Typed(List<Integer> committed, String partial) {
      this.committed = new ArrayList<>(committed);
      this.partial = partial;
    }
  }
}
