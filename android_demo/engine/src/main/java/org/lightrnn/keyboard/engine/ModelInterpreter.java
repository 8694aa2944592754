package org.lightrnn.keyboard.engine;

/**
 * The exported model's signatures, as the engine sees them. The app implements it over LiteRT's
 * {@code org.tensorflow.lite.Interpreter#runSignature}; the JVM tests replay outputs written by the
 * Python predictor. A state is the float32 {@code (L, 2, H)} tensor flattened row-major.
 */
public interface ModelInterpreter {
  /** {@code feed(word (1,), state) -> state}: reads one word. */
  float[] feed(int word, float[] state);

  /** {@code top_k(state)}: the K best words of the M best rows, and every row by decreasing score. */
  TopK topK(float[] state);

  /** {@code expand(state, rows (M,))}: words and log-probs of every cell of those rows, {@code M*C} each. */
  Expanded expand(float[] state, int[] rows);

  /** Outputs of {@code top_k}. */
  final class TopK {
    public final int[] words;
    public final float[] logProbs;
    public final int[] rowOrder;
    public final float[] rowLogProbs;

    public TopK(int[] words, float[] logProbs, int[] rowOrder, float[] rowLogProbs) {
      this.words = words;
      this.logProbs = logProbs;
      this.rowOrder = rowOrder;
      this.rowLogProbs = rowLogProbs;
    }
  }

  /** Outputs of {@code expand}, row-major {@code (M, C)}; empty cells have word -1. */
  final class Expanded {
    public final int[] words;
    public final float[] logProbs;

    public Expanded(int[] words, float[] logProbs) {
      this.words = words;
      this.logProbs = logProbs;
    }
  }
}
