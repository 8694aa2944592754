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

  public KeyboardEngine(ModelMetadata meta, ModelInterpreter model, final int cacheSize) {
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

  /** One suggestion. */
  public static final class Suggestion {
    public final int id;
    public final String word;
    public final float logProb;

    Suggestion(int id, String word, float logProb) {
      this.id = id;
      this.word = word;
      this.logProb = logProb;
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
    for (int r : rows) if (!ctx.rowWords.containsKey(r)) todo.add(r);
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

  /** The k suggestions for the text before the cursor. */
  public List<Suggestion> suggest(String textBeforeCursor, int k) {
    Tokenizer.Typed typed = tokenizer.splitTyped(textBeforeCursor);
    Context ctx = context(typed.committed);
    return typed.partial.isEmpty() ? nextWords(ctx, k) : complete(ctx, typed.partial, k);
  }

  /** The text after tapping {@code word}: the partial word replaced, then a space. */
  public String accept(String textBeforeCursor, String word) {
    String partial = tokenizer.splitTyped(textBeforeCursor).partial;
    String head = textBeforeCursor.substring(0, textBeforeCursor.length() - partial.length());
    return head + word + " ";
  }
}
