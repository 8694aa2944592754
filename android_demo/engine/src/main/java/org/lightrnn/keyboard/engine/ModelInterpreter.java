package org.lightrnn.keyboard.engine;

/**
 * The exported model's signatures, as the engine sees them. The app implements it over LiteRT's
 * {@code org.tensorflow.lite.Interpreter#runSignature}; the JVM tests replay outputs written by the
 * Python predictor. A state is the float32 {@code (L, 2, H)} tensor flattened row-major.
 */
public interface ModelInterpreter {
  /**
   * The model file's bytes as LiteRT's {@code Interpreter(ByteBuffer, Options)} takes them: a direct
   * buffer in the native byte order, positioned at 0. (A new direct buffer is big-endian, which the
   * Interpreter refuses on every phone: "should be either a MappedByteBuffer ... or a direct
   * ByteBuffer using ByteOrder.nativeOrder()".)
   */
  static java.nio.ByteBuffer modelBuffer(byte[] model) {
    java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocateDirect(model.length).order(java.nio.ByteOrder.nativeOrder());
    buffer.put(model);
    buffer.rewind();
    return buffer;
  }

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
