package org.lightrnn.keyboard.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Keyboard suggestions from a LightRNN model: the exact top-k next words after a space, and the
 * exact top-k vocabulary words starting with the word being typed (export/keyboard.py).
 *
 * <p>Exactness: a word's log-prob is its row's score plus a column log-prob {@code <= 0}. Rows are
 * expanded in decreasing row score (only rows holding a matching word, for a completion) and the
 * loop stops when the k-th best candidate reaches the score of the next unexpanded row.
 *
 * <p>State cache: each committed context (its ids) keeps its state, its {@code top_k} output and its
 * expanded rows, so a keystroke inside a word re-uses them and a new word costs one {@code feed}.
 * Not thread-safe: call it from one thread (the app uses a single background executor).
 *
 * <p>Typed-word history ({@code historyWeight} lam, 0.1 by default, 0 = off; export/keyboard.py): the last
 * {@code historyWords} committed tokens of the text form a unigram cache, score = {@code (1 - lam)
 * p_model + lam count / N} with {@code lam = historyWeight N / (N + HISTORY_RAMP)} ({@link
 * #historyLambda}), so a typed word outside the vocabulary can be suggested and the first words of
 * a text do not come back as suggestions on their own. Candidates: the
 * model's exact top k plus the history's words with the prefix; a history word's row is expanded
 * only while its bound {@code (1 - lam) exp(row score) + lam count / N} can beat the k-th best.
 */
public final class KeyboardEngine {
  private final ModelMetadata meta;
  private final ModelInterpreter model;
  public final Tokenizer tokenizer;
  private final Set<Integer> special = new HashSet<>();
  private final Map<List<Integer>, Context> cache;
  private float[] start;
  private String lastPrefix;
  private int[] lastMatch;
  /** Calls made to the model: feed, topK, expand. */
  public final int[] calls = new int[3];
  /** export/keyboard.py HISTORY_WEIGHT and HISTORY_WORDS. */
  public static final double HISTORY_WEIGHT = 0.1;
  public static final int HISTORY_WORDS = 500;
  /** After N typed words the history weighs {@code historyWeight N / (N + HISTORY_RAMP)} (export/keyboard.py). */
  public static final int HISTORY_RAMP = 20;

  /** The history's weight after {@code n} typed words, as export/keyboard.py history_lambda. */
  public static double historyLambda(double weight, int n) {
    return weight * n / (n + HISTORY_RAMP);
  }
  private final double historyWeight;
  private final int historyWords;

  public KeyboardEngine(ModelMetadata meta, ModelInterpreter model, final int cacheSize) {
    this(meta, model, cacheSize, HISTORY_WEIGHT, HISTORY_WORDS);
  }

  public KeyboardEngine(ModelMetadata meta, ModelInterpreter model, final int cacheSize,
      double historyWeight, int historyWords) {
    if (!(historyWeight >= 0 && historyWeight < 1)) {
      throw new IllegalArgumentException("historyWeight must be in [0, 1), got " + historyWeight);
    }
    if (historyWords < 0) throw new IllegalArgumentException("historyWords must be >= 0, got " + historyWords);
    this.historyWeight = historyWeight;
    this.historyWords = historyWords;
    this.meta = meta;
    this.model = model;
    this.tokenizer = new Tokenizer(meta);
    special.add(meta.unkId);
    special.add(meta.eosId);
    this.cache = new LinkedHashMap<List<Integer>, Context>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<List<Integer>, Context> e) {
        return size() > cacheSize;
      }
    };
  }

  public KeyboardEngine(ModelMetadata meta, ModelInterpreter model) {
    this(meta, model, 64);
  }

  /** One suggestion: id -1 for a typed word outside the vocabulary (from the history). */
  public static final class Suggestion {
    public final int id;
    public final String word;
    public final float logProb;
    /** The model's probability, or the history mixture's score when the history is on. */
    public final double score;

    Suggestion(int id, String word, float logProb) {
      this(id, word, logProb, Math.exp(logProb));
    }

    Suggestion(int id, String word, float logProb, double score) {
      this.id = id;
      this.word = word;
      this.logProb = logProb;
      this.score = score;
    }

    @Override
    public String toString() {
      return word + "(" + logProb + ")";
    }
  }

  /** A committed context: its state, top_k output and expanded rows. */
  static final class Context {
    final float[] state;
    ModelInterpreter.TopK top;
    final Map<Integer, int[]> rowWords = new HashMap<>();
    final Map<Integer, float[]> rowLogProbs = new HashMap<>();

    Context(float[] state) {
      this.state = state;
    }
  }

  // === States ===

  Context context(List<Integer> ids) {
    int n = ids.size();
    while (n > 1 && !cache.containsKey(ids.subList(0, n))) n--;
    Context ctx = cache.get(new ArrayList<>(ids.subList(0, n)));
    if (ctx == null) {
      ctx = new Context(startState());
      n = 1;
      cache.put(new ArrayList<>(ids.subList(0, 1)), ctx);
    }
    for (int m = n; m < ids.size(); m++) {
      ctx = new Context(model.feed(ids.get(m), ctx.state));
      calls[0]++;
      cache.put(new ArrayList<>(ids.subList(0, m + 1)), ctx);
    }
    return ctx;
  }

  private float[] startState() {
    if (start == null) start = model.feed(meta.eosId, new float[meta.stateSize]);
    return start;
  }

  private ModelInterpreter.TopK top(Context ctx) {
    if (ctx.top == null) {
      ctx.top = model.topK(ctx.state);
      calls[1]++;
    }
    return ctx.top;
  }

  private void expand(Context ctx, List<Integer> rows) {
    List<Integer> todo = new ArrayList<>();
    for (int r : new java.util.LinkedHashSet<>(rows)) if (!ctx.rowWords.containsKey(r)) todo.add(r);
    int m = meta.expandRows, c = meta.cols;
    for (int s = 0; s < todo.size(); s += m) {
      List<Integer> batch = todo.subList(s, Math.min(todo.size(), s + m));
      int[] padded = new int[m];
      for (int j = 0; j < m; j++) padded[j] = batch.get(Math.min(j, batch.size() - 1));
      ModelInterpreter.Expanded out = model.expand(ctx.state, padded);
      calls[2]++;
      for (int j = 0; j < batch.size(); j++) {
        ctx.rowWords.put(batch.get(j), Arrays.copyOfRange(out.words, j * c, (j + 1) * c));
        ctx.rowLogProbs.put(batch.get(j), Arrays.copyOfRange(out.logProbs, j * c, (j + 1) * c));
      }
    }
  }

  // === Suggestions ===

  private static float kthLargest(List<Float> values, int k) {
    float[] a = new float[values.size()];
    for (int i = 0; i < a.length; i++) a[i] = values.get(i);
    Arrays.sort(a);
    return a[a.length - k];
  }

  private List<Suggestion> best(List<Integer> ids, List<Float> lps, int k) {
    Integer[] order = new Integer[ids.size()];
    for (int i = 0; i < order.length; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> {
      int byScore = Float.compare(lps.get(b), lps.get(a));
      return byScore != 0 ? byScore : Integer.compare(ids.get(a), ids.get(b));
    });
    List<Suggestion> out = new ArrayList<>();
    for (int i = 0; i < Math.min(k, order.length); i++) {
      int id = ids.get(order[i]);
      out.add(new Suggestion(id, meta.vocab.get(id), lps.get(order[i])));
    }
    return out;
  }

  /** Exact k most probable next words, {@code <unk>}/{@code <eos>} left out, best first. */
  List<Suggestion> nextWords(Context ctx, int k) {
    ModelInterpreter.TopK t = top(ctx);
    int m = meta.expandRows;
    List<Integer> ids = new ArrayList<>();
    List<Float> lps = new ArrayList<>();
    for (int i = 0; i < t.words.length; i++) {
      if (t.words[i] >= 0 && !special.contains(t.words[i])) {
        ids.add(t.words[i]);
        lps.add(t.logProbs[i]);
      }
    }
    int expanded = m;
    if (ids.size() < k) {
      ids.clear();
      lps.clear();
      expanded = 0;
    }
    while (true) {
      float bound = expanded < meta.rows ? t.rowLogProbs[expanded] : Float.NEGATIVE_INFINITY;
      if (lps.size() >= k && kthLargest(lps, k) >= bound) break;
      if (expanded >= meta.rows) break;
      List<Integer> batch = new ArrayList<>();
      for (int p = expanded; p < Math.min(meta.rows, expanded + m); p++) batch.add(t.rowOrder[p]);
      expand(ctx, batch);
      for (int r : batch) {
        int[] w = ctx.rowWords.get(r);
        float[] lp = ctx.rowLogProbs.get(r);
        for (int j = 0; j < w.length; j++) {
          if (w[j] >= 0 && !special.contains(w[j])) {
            ids.add(w[j]);
            lps.add(lp[j]);
          }
        }
      }
      expanded += batch.size();
    }
    return best(ids, lps, k);
  }

  /** Ids of the non-special words starting with {@code prefix}. */
  int[] matching(String prefix) {
    int[] pool = null;
    if (lastPrefix != null && prefix.startsWith(lastPrefix)) pool = lastMatch;
    List<Integer> out = new ArrayList<>();
    if (pool != null) {
      for (int i : pool) if (meta.vocab.get(i).startsWith(prefix)) out.add(i);
    } else {
      for (int i = 0; i < meta.vocab.size(); i++) {
        if (!special.contains(i) && meta.vocab.get(i).startsWith(prefix)) out.add(i);
      }
    }
    lastPrefix = prefix;
    lastMatch = out.stream().mapToInt(Integer::intValue).toArray();
    return lastMatch;
  }

  /** Exact k most probable words starting with {@code prefix}, best first. */
  List<Suggestion> complete(Context ctx, String prefix, int k) {
    int[] match = matching(prefix);
    if (match.length == 0) return new ArrayList<>();
    ModelInterpreter.TopK t = top(ctx);
    boolean[] hasMatch = new boolean[meta.rows];
    Set<Integer> matchSet = new HashSet<>();
    for (int i : match) {
      hasMatch[meta.wordRow[i]] = true;
      matchSet.add(i);
    }
    List<Integer> ranked = new ArrayList<>();
    for (int p = 0; p < t.rowOrder.length; p++) if (hasMatch[t.rowOrder[p]]) ranked.add(p);
    Map<Integer, Float> cand = new LinkedHashMap<>();
    int m = meta.expandRows;
    for (int pos = 0; ; ) {
      float bound = pos < ranked.size() ? t.rowLogProbs[ranked.get(pos)] : Float.NEGATIVE_INFINITY;
      if (cand.size() >= k && kthLargest(new ArrayList<>(cand.values()), k) >= bound) break;
      if (pos >= ranked.size()) break;
      List<Integer> batch = new ArrayList<>();
      for (int q = pos; q < Math.min(ranked.size(), pos + m); q++) batch.add(t.rowOrder[ranked.get(q)]);
      expand(ctx, batch);
      for (int r : batch) {
        int[] w = ctx.rowWords.get(r);
        float[] lp = ctx.rowLogProbs.get(r);
        for (int j = 0; j < w.length; j++) if (matchSet.contains(w[j])) cand.put(w[j], lp[j]);
      }
      pos += batch.size();
    }
    return best(new ArrayList<>(cand.keySet()), new ArrayList<>(cand.values()), k);
  }

  /** The typed-word history: counts of the last {@code historyWords} committed tokens, specials left out. */
  public Map<String, Integer> history(String textBeforeCursor) {
    Map<String, Integer> counts = new LinkedHashMap<>();
    for (String[] pair : historyTokens(textBeforeCursor)) counts.merge(pair[0], 1, Integer::sum);
    return counts;
  }

  /**
   * Token -> the capitals it was last typed with, where they are the word's own ("McDonald",
   * "iPhone", a "Zoë" or "I" away from a sentence start), over the history's tokens; empty for a
   * model that keeps capitals (export/keyboard.py History.surfaces).
   */
  public Map<String, String> surfaces(String textBeforeCursor) {
    Map<String, String> out = new HashMap<>();
    for (String[] pair : historyTokens(textBeforeCursor)) {
      if (pair[1] == null) continue;
      if (pair[1].isEmpty()) out.remove(pair[0]); // typed in lowercase: the capitals seen before were the sentence's
      else out.put(pair[0], pair[1]);
    }
    return out;
  }

  private String memoText;
  private List<String[]> memoTokens;

  /** The history's last {@code historyWords} committed tokens, specials left out: {token, as typed or null}. */
  private List<String[]> historyTokens(String textBeforeCursor) {
    if (textBeforeCursor.equals(memoText)) return memoTokens; // cased() asks again for each chip
    String text = Tokenizer.normalizeLines(textBeforeCursor);
    String[] lines = text.split("\n", -1);
    Set<String> specials = new HashSet<>(Arrays.asList("<unk>", "<eos>"));
    List<List<String[]>> tail = new ArrayList<>(); // lines from the end, until historyWords + 1 tokens are kept
    int have = 0;
    for (int i = lines.length - 1; i >= 0 && have <= historyWords; i--) {
      Tokenizer.LineEnd end = tokenizer.lastTokens(lines[i], historyWords + 1 - have, specials);
      List<String> toks = end.tokens;
      List<String> typed = meta.lowercase ? tokenizer.typedCapitals(lines[i], end.cut, toks) : null;
      List<String[]> pairs = new ArrayList<>();
      for (int j = 0; j < toks.size(); j++) pairs.add(new String[] {toks.get(j), typed == null ? null : typed.get(j)});
      tail.add(pairs);
      for (String t : toks) if (!specials.contains(t)) have++;
    }
    List<String[]> tokens = new ArrayList<>();
    for (int i = tail.size() - 1; i >= 0; i--) tokens.addAll(tail.get(i));
    tokens.subList(tokens.size() - tokenizer.typedWord(text).covered, tokens.size()).clear(); // the word being typed
    List<String[]> kept = new ArrayList<>();
    for (String[] t : tokens) if (!specials.contains(t[0])) kept.add(t);
    memoText = textBeforeCursor;
    memoTokens = new ArrayList<>(kept.subList(Math.max(0, kept.size() - historyWords), kept.size()));
    return memoTokens;
  }

  /** Exact k best words with {@code prefix} ("" = next words) under the model mixed with {@code counts}. */
  List<Suggestion> withHistory(Context ctx, String prefix, Map<String, Integer> counts, int k) {
    int n = 0;
    for (int c : counts.values()) n += c;
    double lam = historyLambda(historyWeight, n);
    List<Suggestion> base = prefix.isEmpty() ? nextWords(ctx, k) : complete(ctx, prefix, k);
    if (lam == 0 || n == 0) return base;
    final int vocab = meta.vocab.size();
    Map<String, double[]> cand = new HashMap<>(); // word -> {score, tie key (id, or V outside the vocabulary)}
    Map<String, Float> modelLp = new HashMap<>();
    for (Suggestion s : base) {
      cand.put(s.word, new double[] {(1 - lam) * Math.exp(s.logProb) + lam * counts.getOrDefault(s.word, 0) / n, s.id});
      modelLp.put(s.word, s.logProb);
    }
    ModelInterpreter.TopK t = top(ctx);
    double[] rowScore = new double[meta.rows];
    for (int p = 0; p < t.rowOrder.length; p++) rowScore[t.rowOrder[p]] = t.rowLogProbs[p];
    List<double[]> pending = new ArrayList<>(); // {bound, id, count}
    for (Map.Entry<String, Integer> e : counts.entrySet()) {
      String w = e.getKey();
      int c = e.getValue();
      if (cand.containsKey(w) || !w.startsWith(prefix)) continue;
      int id = tokenizer.id(w);
      if (id == tokenizer.unkId) {
        cand.put(w, new double[] {lam * c / n, vocab});
      } else {
        pending.add(new double[] {(1 - lam) * Math.exp(rowScore[meta.wordRow[id]]) + lam * c / n, id, c});
      }
    }
    pending.sort((a, b) -> a[0] != b[0] ? Double.compare(b[0], a[0]) : Double.compare(a[1], b[1]));
    int m = meta.expandRows;
    for (int pos = 0; pos < pending.size(); ) {
      if (cand.size() >= k && kthScore(cand, k) >= pending.get(pos)[0]) break;
      List<double[]> batch = pending.subList(pos, Math.min(pending.size(), pos + m));
      List<Integer> rows = new ArrayList<>();
      for (double[] p : batch) rows.add(meta.wordRow[(int) p[1]]);
      expand(ctx, rows);
      for (double[] p : batch) {
        int id = (int) p[1];
        int[] w = ctx.rowWords.get(meta.wordRow[id]);
        float[] lp = ctx.rowLogProbs.get(meta.wordRow[id]);
        for (int j = 0; j < w.length; j++) {
          if (w[j] == id) {
            String word = meta.vocab.get(id);
            cand.put(word, new double[] {(1 - lam) * Math.exp(lp[j]) + lam * (int) p[2] / n, id});
            modelLp.put(word, lp[j]);
          }
        }
      }
      pos += batch.size();
    }
    List<Map.Entry<String, double[]>> order = new ArrayList<>(cand.entrySet());
    order.sort((a, b) -> {
      int c = Double.compare(b.getValue()[0], a.getValue()[0]);
      if (c == 0) c = Double.compare(a.getValue()[1], b.getValue()[1]);
      return c != 0 ? c : a.getKey().compareTo(b.getKey());
    });
    List<Suggestion> out = new ArrayList<>();
    for (Map.Entry<String, double[]> e : order.subList(0, Math.min(k, order.size()))) {
      int id = (int) e.getValue()[1];
      out.add(new Suggestion(id < vocab ? id : -1, e.getKey(),
          modelLp.getOrDefault(e.getKey(), Float.NEGATIVE_INFINITY), e.getValue()[0]));
    }
    return out;
  }

  private static double kthScore(Map<String, double[]> cand, int k) {
    double[] a = new double[cand.size()];
    int i = 0;
    for (double[] v : cand.values()) a[i++] = v[0];
    Arrays.sort(a);
    return a[a.length - k];
  }

  /** The k suggestions for the text before the cursor (with the typed-word history when it is on). */
  public List<Suggestion> suggest(String textBeforeCursor, int k) {
    Tokenizer.Typed typed = tokenizer.splitTyped(textBeforeCursor);
    Context ctx = context(typed.committed);
    if (historyWeight > 0) return withHistory(ctx, typed.partial, history(textBeforeCursor), k);
    return typed.partial.isEmpty() ? nextWords(ctx, k) : complete(ctx, typed.partial, k);
  }

  /** {@code word} as a tap inserts it: in the typed prefix's capitals with a lowercasing model. */
  public String cased(String textBeforeCursor, String word) {
    return cased(textBeforeCursor, word, tokenizer.splitTyped(textBeforeCursor).partial);
  }

  /** {@link #cased(String, String)} with the word being typed already known (one read of the text for several words). */
  public String cased(String textBeforeCursor, String word, String partial) {
    if (!meta.lowercase) return word;
    if (historyWeight > 0) word = surfaces(textBeforeCursor).getOrDefault(word, word); // "McDonald", "Zoë", "I"
    if (partial.isEmpty()) return word;
    String cased =
        matchCase(tokenizer.folded(textBeforeCursor.substring(textBeforeCursor.length() - tokenizer.typedLength(textBeforeCursor, partial))), word);
    // "İst" + "i̇stanbul" gives "İstanbul", not "I" + U+0307 + "stanbul"
    return "NFC".equals(meta.normalization) ? java.text.Normalizer.normalize(cased, java.text.Normalizer.Form.NFC) : cased;
  }

  /**
   * {@code word} in the capitals of the typed prefix it completes (export/keyboard.py match_case):
   * all capitals if every letter typed is one and there are two or more; else each capital where it
   * was typed ("McD" -> "McDonald") when the typed characters, lowercased one by one, spell the start
   * of {@code word}; otherwise a capital first letter if the typed one is, else unchanged.
   */
  public static String matchCase(String typed, String word) {
    int letters = 0;
    boolean allUpper = true;
    for (int i = 0; i < typed.length(); ) {
      int c = typed.codePointAt(i);
      if (Character.isLetter(c)) {
        letters++;
        allUpper &= Character.isUpperCase(c);
      }
      i += Character.charCount(c);
    }
    if (letters >= 2 && allUpper) return word.toUpperCase(java.util.Locale.ROOT);
    StringBuilder out = new StringBuilder();
    int j = 0; // a char index into word
    boolean aligned = true;
    for (int i = 0; i < typed.length(); ) {
      int c = typed.codePointAt(i);
      String ch = new String(Character.toChars(c));
      String lower = ch.toLowerCase(java.util.Locale.ROOT); // "İ" -> "i̇", two code points
      int n = lower.codePointCount(0, lower.length());
      int end = j;
      for (int k = 0; k < n && end < word.length(); k++) end += Character.charCount(word.codePointAt(end));
      String chunk = word.substring(j, end);
      if (!chunk.toLowerCase(java.util.Locale.ROOT).equals(lower)) {
        aligned = false;
        break;
      }
      out.append(Character.isUpperCase(c) ? ch : chunk);
      j = end;
      i += Character.charCount(c);
    }
    if (aligned) return out.append(word, j, word.length()).toString();
    if (!typed.isEmpty() && Character.isUpperCase(typed.codePointAt(0)) && !word.isEmpty()) {
      int n = Character.charCount(word.codePointAt(0));
      return word.substring(0, n).toUpperCase(java.util.Locale.ROOT) + word.substring(n);
    }
    return word;
  }

  /**
   * The text around the caret after tapping {@code word} (export/keyboard.py accept_at): {before',
   * after'}, the caret at before'.length(). The word being typed is replaced whole, its rest after the
   * caret too (letters, digits, _, combining marks, and inner apostrophes and joiners); a space or tab right after it is re-used,
   * and before a line end no space is added.
   */
  public String[] acceptAt(String before, String after, String word) {
    String partial = tokenizer.splitTyped(before).partial;
    String head = accept(before, word, partial);
    if (!partial.isEmpty()) { // the caret inside a word: its rest goes too; after punctuation the next word stays
      int last = partial.codePointBefore(partial.length());
      if (Tokenizer.isWordChar(last) || Tokenizer.JOINERS.indexOf(last) >= 0) {
        after = after.substring(tokenizer.wordPrefixLength(after));
      }
    }
    if (head.endsWith(" ")) {
      if (after.startsWith(" ") || after.startsWith("\t")) {
        after = after.substring(1);
      } else if (!after.isEmpty() && Tokenizer.normalizeLines(after.substring(0, 1)).equals("\n")) {
        head = head.substring(0, head.length() - 1);
      }
    }
    return new String[] {head, after};
  }

  /** The text after tapping {@code word}: the partial word replaced (its capitals kept), then a space. */
  public String accept(String textBeforeCursor, String word) {
    return accept(textBeforeCursor, word, tokenizer.splitTyped(textBeforeCursor).partial);
  }

  /** Punctuation a tap puts against the word before it (export/keyboard.py CLOSING_PUNCT). */
  static final String CLOSING_PUNCT = ",.!?:;)]}”’»›…、。，．！？：；）」』】،؛؟।॥";
  /** Punctuation a tap puts against the word after it: no space follows (OPENING_PUNCT). */
  static final String OPENING_PUNCT = "([{“‘«‹¿¡（「『【";

  private String accept(String textBeforeCursor, String word, String partial) {
    int typed = partial.isEmpty() ? 0 : tokenizer.typedLength(textBeforeCursor, partial);
    String head = textBeforeCursor.substring(0, textBeforeCursor.length() - typed);
    String cased = cased(textBeforeCursor, word, partial);
    if (!cased.isEmpty() && cased.codePoints().allMatch(c -> CLOSING_PUNCT.indexOf(c) >= 0)) {
      int end = head.length();
      while (end > 0 && head.charAt(end - 1) == ' ') end--;
      if (end > 0 && !Tokenizer.isSpace(head.charAt(end - 1))) head = head.substring(0, end); // after a word
    } else if (!cased.isEmpty() && cased.codePoints().allMatch(c -> OPENING_PUNCT.indexOf(c) >= 0)) {
      return head + cased;
    }
    return head + cased + " ";
  }
}
