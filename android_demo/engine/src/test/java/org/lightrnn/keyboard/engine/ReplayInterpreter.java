package org.lightrnn.keyboard.engine;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@link ModelInterpreter} that answers from the calls the Python predictor recorded
 * (tests/keyboard_fixtures.py, replay.json): states are keyed by their float32 little-endian hex,
 * every row of every recorded state is there, so any expand batch can be answered. A call Python
 * never made fails the test.
 */
final class ReplayInterpreter implements ModelInterpreter {
  private final Map<String, Object> feeds;
  private final Map<String, Object> states;
  private final int cols;
  int feedCalls;
  int expandCalls;
  final Set<String> expandedRows = new HashSet<>();

  @SuppressWarnings("unchecked")
  ReplayInterpreter(Object replay, int cols) {
    this.feeds = Json.obj(replay, "feeds");
    this.states = Json.obj(replay, "states");
    this.cols = cols;
  }

  static String hex(float[] state) {
    StringBuilder b = new StringBuilder(state.length * 8);
    for (float f : state) {
      int bits = Float.floatToRawIntBits(f);
      for (int i = 0; i < 4; i++) b.append(String.format("%02x", (bits >>> (8 * i)) & 0xff));
    }
    return b.toString();
  }

  static float[] fromHex(String h) {
    float[] out = new float[h.length() / 8];
    for (int i = 0; i < out.length; i++) {
      int bits = 0;
      for (int j = 0; j < 4; j++) bits |= Integer.parseInt(h.substring(8 * i + 2 * j, 8 * i + 2 * j + 2), 16) << (8 * j);
      out[i] = Float.intBitsToFloat(bits);
    }
    return out;
  }

  static int[] ints(List<Object> xs) {
    int[] out = new int[xs.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((Number) xs.get(i)).intValue();
    return out;
  }

  static float[] floats(List<Object> xs) {
    float[] out = new float[xs.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((Number) xs.get(i)).floatValue();
    return out;
  }

  Map<String, Object> state(float[] s) {
    Object rec = states.get(hex(s));
    if (rec == null) throw new AssertionError("state not recorded by the Python predictor");
    @SuppressWarnings("unchecked")
    Map<String, Object> m = (Map<String, Object>) rec;
    return m;
  }

  @Override
  public float[] feed(int word, float[] s) {
    Object out = feeds.get(word + ":" + hex(s));
    if (out == null) throw new AssertionError("feed(" + word + ") not recorded by the Python predictor");
    feedCalls++;
    return fromHex((String) out);
  }

  @Override
  public TopK topK(float[] s) {
    Map<String, Object> t = Json.obj(state(s), "top_k");
    return new TopK(ints(Json.list(t, "words")), floats(Json.list(t, "log_probs")),
        ints(Json.list(t, "row_order")), floats(Json.list(t, "row_log_probs")));
  }

  @Override
  @SuppressWarnings("unchecked")
  public Expanded expand(float[] s, int[] rows) {
    Map<String, Object> rec = state(s);
    List<Object> words = Json.list(rec, "rows_words"), lps = Json.list(rec, "rows_log_probs");
    int[] w = new int[rows.length * cols];
    float[] lp = new float[rows.length * cols];
    for (int j = 0; j < rows.length; j++) {
      System.arraycopy(ints((List<Object>) words.get(rows[j])), 0, w, j * cols, cols);
      System.arraycopy(floats((List<Object>) lps.get(rows[j])), 0, lp, j * cols, cols);
      expandedRows.add(hex(s).substring(0, 16) + ":" + rows[j]);
    }
    expandCalls++;
    return new Expanded(w, lp);
  }
}
