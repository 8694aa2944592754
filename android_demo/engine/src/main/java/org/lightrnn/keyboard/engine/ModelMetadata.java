package org.lightrnn.keyboard.engine;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What a LightRNN {@code .tflite} carries besides its weights (export/metadata.py): the
 * LIGHTRNN_METADATA JSON in {@code Model.metadata}, and {@code vocab.txt} in the zip appended to the
 * flatbuffer. Read from the model bytes alone: tensor shapes, table, tokenizer rules and the
 * vocabulary are never hard-coded in the app.
 */
public final class ModelMetadata {
  public final List<String> vocab;
  public final boolean lowercase;
  public final boolean splitPunct;
  public final String splitPunctPattern;
  /** The Unicode normal form of every token ("NFC"), or null in files exported before it was recorded. */
  public final String normalization;
  /** The version of the tokenizer's rules (lightrnn_tf.data.TOKENIZER_RULES), stated from 3 on. */
  public final int rulesVersion;
  /** Inclusive code point ranges read as a space (a zero-width space, NUL), from rules 4 on; else null. */
  public final int[][] spaceChars;
  /** Inclusive code point ranges removed before tokenizing (a soft hyphen, bidi marks), from rules 4 on; else null. */
  public final int[][] removeChars;
  public final int unkId;
  public final int eosId;
  public final int rows;
  public final int cols;
  public final int maxK;
  public final int expandRows;
  public final int stateSize;
  public final String quantization;
  /** Row of every word's cell. */
  public final int[] wordRow;

  /**
   * The inclusive code point ranges [[first, last], ...] {@code tok} lists under {@code key}, or null
   * if none or an empty list (export/text.py char_class).
   */
  private static int[][] codePointRanges(Map<String, Object> tok, String key, int rulesVersion) {
    if (tok.get(key) == null) {
      if (rulesVersion >= 4) throw new IllegalArgumentException("metadata: tokenizer rules " + rulesVersion + " without " + key);
      return null;
    }
    if (!(tok.get(key) instanceof List)) {
      throw new IllegalArgumentException("metadata: tokenizer " + key + " must be a list of [first, last] code points");
    }
    List<Object> ranges = Json.list(tok, key);
    if (ranges.isEmpty()) return null;
    int[][] out = new int[ranges.size()][];
    for (int i = 0; i < out.length; i++) {
      Object r = ranges.get(i);
      if (!(r instanceof List) || ((List<?>) r).size() != 2 || !(((List<?>) r).get(0) instanceof Number)
          || !(((List<?>) r).get(1) instanceof Number)) {
        throw new IllegalArgumentException("metadata: tokenizer " + key + " must be a list of [first, last] code points");
      }
      double a = ((Number) ((List<?>) r).get(0)).doubleValue(), b = ((Number) ((List<?>) r).get(1)).doubleValue();
      int first = (int) a, last = (int) b;
      if (first != a || last != b || first < 0 || first > last || last > Character.MAX_CODE_POINT) {
        throw new IllegalArgumentException("metadata: tokenizer " + key + " must be a list of [first, last] code points");
      }
      out[i] = new int[] {first, last};
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  private ModelMetadata(Object json, List<String> vocab) {
    this.vocab = vocab;
    Object architecture = ((Map<String, Object>) json).get("architecture");
    if (architecture != null && !"lightrnn".equals(architecture)) {
      throw new IllegalArgumentException("a " + architecture + " model; the keyboard runs LightRNN exports "
          + "(python -m export of a LightRNN run)");
    }
    Map<String, Object> tok = Json.obj(json, "tokenizer");
    lowercase = Json.bool(tok, "lowercase");
    splitPunct = Json.bool(tok, "split_punct");
    splitPunctPattern = splitPunct ? Json.string(tok, "split_punct_pattern") : null;
    normalization = tok.get("normalization") == null ? null : Json.string(tok, "normalization");
    if (normalization != null && !normalization.equals("NFC")) {
      throw new IllegalArgumentException("unknown tokenizer normalization " + normalization + " (this engine knows NFC)");
    }
    rulesVersion = tok.get("rules_version") != null ? Json.integer(tok, "rules_version") : normalization == null ? 1 : 2;
    spaceChars = codePointRanges(tok, "space_chars", rulesVersion);
    removeChars = codePointRanges(tok, "remove_chars", rulesVersion);
    Map<String, Object> special = Json.obj(json, "special_tokens");
    unkId = Json.integer(special, "<unk>");
    eosId = Json.integer(special, "<eos>");
    Map<String, Object> table = Json.obj(json, "table");
    rows = Json.integer(table, "rows");
    cols = Json.integer(table, "cols");
    Map<String, Object> export = Json.obj(json, "export");
    maxK = Json.integer(export, "max_k");
    expandRows = Json.integer(export, "expand_rows");
    quantization = Json.string(export, "quantization");
    int size = 1;
    for (Object d : Json.list(export, "state_shape")) size *= ((Number) d).intValue();
    stateSize = size;
    int vocabSize = Json.integer(Json.obj(json, "model"), "vocab_size");
    if (vocab.size() != vocabSize) {
      throw new IllegalArgumentException("vocab.txt has " + vocab.size() + " words, the model " + vocabSize);
    }
    if (!"<unk>".equals(vocab.get(unkId)) || !"<eos>".equals(vocab.get(eosId))) {
      throw new IllegalArgumentException("metadata: special-token ids do not match the vocabulary");
    }
    byte[] cells = Base64.getDecoder().decode(Json.string(table, "word_cell"));
    ByteBuffer bb = ByteBuffer.wrap(cells).order(ByteOrder.LITTLE_ENDIAN);
    boolean int16 = "<i2".equals(Json.string(table, "dtype"));
    wordRow = new int[vocabSize];
    for (int w = 0; w < vocabSize; w++) wordRow[w] = (int16 ? bb.getShort() : bb.getInt()) / cols;
  }

  /** Reads the metadata of a model file's bytes; IllegalArgumentException says what is wrong. */
  public static ModelMetadata read(byte[] model) {
    byte[] raw;
    Object json = null;
    Map<String, byte[]> files;
    try {  // a cut or damaged file: one message (as export/metadata.py), not an IndexOutOfBoundsException
      raw = metadataEntries(model).get("LIGHTRNN_METADATA");
      if (raw != null) json = Json.parse(new String(raw, StandardCharsets.UTF_8));
      files = appendedFiles(model);
    } catch (IndexOutOfBoundsException | NegativeArraySizeException | Json.JsonException e) {
      throw new IllegalArgumentException(CORRUPT);
    }
    if (raw == null) {
      throw new IllegalArgumentException("this .tflite has no LightRNN metadata (was it written by `python -m export`?)");
    }
    if (!"lightrnn_tf.export".equals(Json.string(json, "format"))) {
      throw new IllegalArgumentException("unsupported metadata format " + Json.string(json, "format"));
    }
    String vocabFile = "vocab.txt";
    byte[] file = files.get(vocabFile);
    if (file == null) {
      throw new IllegalArgumentException(
          "the vocabulary (vocab.txt appended to the model) is missing: the file is truncated, or its zip was stripped");
    }
    String text = new String(file, StandardCharsets.UTF_8);
    List<String> vocab = new ArrayList<>();
    int start = 0;
    for (int j = text.indexOf('\n'); j >= 0; j = text.indexOf('\n', start)) {
      vocab.add(text.substring(start, j));
      start = j + 1;
    }
    return new ModelMetadata(json, vocab);
  }

  /** What a cut or damaged file gets (the same words as the web engine and export/metadata.py). */
  static final String CORRUPT =
      "the file is truncated or corrupt (its TFLite structure cannot be read; an incomplete download or copy?)";

  /** {@code model[start, start + n)}, or an IndexOutOfBoundsException when the file is shorter. */
  private static byte[] slice(byte[] model, long start, long n) {
    if (start < 0 || n < 0 || start + n > model.length) {
      throw new IndexOutOfBoundsException("bytes " + start + "+" + n + " outside the file");
    }
    return Arrays.copyOfRange(model, (int) start, (int) (start + n));
  }

  // === TFLite flatbuffer (schema.fbs: Model.buffers = field 4, Model.metadata = field 6) ===

  private static int u32(ByteBuffer b, int pos) {
    return b.getInt(pos);
  }

  private static int field(ByteBuffer b, int table, int slot) {
    int vtable = table - b.getInt(table);
    int vtableSize = b.getShort(vtable) & 0xffff;
    int off = 4 + 2 * slot;
    if (off >= vtableSize) return 0;
    int rel = b.getShort(vtable + off) & 0xffff;
    return rel == 0 ? 0 : table + rel;
  }

  private static int deref(ByteBuffer b, int pos) {
    return pos + u32(b, pos);
  }

  /** {@code name -> bytes} of every {@code Model.metadata} entry. */
  public static Map<String, byte[]> metadataEntries(byte[] model) {
    if (model.length < 8 || !new String(model, 4, 4, StandardCharsets.US_ASCII).equals("TFL3")) {
      throw new IllegalArgumentException("not a TFLite model (no TFL3 identifier)");
    }
    ByteBuffer b = ByteBuffer.wrap(model).order(ByteOrder.LITTLE_ENDIAN);
    Map<String, byte[]> out = new HashMap<>();
    int root = u32(b, 0);
    int metaPos = field(b, root, 6), buffersPos = field(b, root, 4);
    if (metaPos == 0 || buffersPos == 0) return out;
    int metas = deref(b, metaPos), buffers = deref(b, buffersPos);
    int n = u32(b, metas);
    for (int i = 0; i < n; i++) {
      int entry = deref(b, metas + 4 + 4 * i);
      int namePos = field(b, entry, 0), bufPos = field(b, entry, 1);
      String name = "";
      if (namePos != 0) {
        int str = deref(b, namePos);
        name = new String(slice(model, (long) str + 4, u32(b, str)), StandardCharsets.UTF_8);
      }
      int buffer = deref(b, buffers + 4 + 4 * (bufPos == 0 ? 0 : u32(b, bufPos)));
      int dataPos = field(b, buffer, 0);
      if (dataPos != 0) {
        int vec = deref(b, dataPos);
        out.put(name, slice(model, (long) vec + 4, u32(b, vec)));
      } else { // buffers outside the flatbuffer (models > 2 GB): offset (1) and size (2), uint64
        int offPos = field(b, buffer, 1), sizePos = field(b, buffer, 2);
        long off = offPos == 0 ? 0 : b.getLong(offPos), size = sizePos == 0 ? 0 : b.getLong(sizePos);
        out.put(name, slice(model, off, size));
      }
    }
    return out;
  }

  /** {@code name -> bytes} of the stored (uncompressed) files of the zip appended to the model. */
  public static Map<String, byte[]> appendedFiles(byte[] model) {
    ByteBuffer b = ByteBuffer.wrap(model).order(ByteOrder.LITTLE_ENDIAN);
    Map<String, byte[]> out = new HashMap<>();
    int eocd = -1;
    for (int i = model.length - 22; i >= Math.max(0, model.length - 22 - 65535); i--) {
      if (u32(b, i) == 0x06054b50) { eocd = i; break; }
    }
    if (eocd < 0) return out;
    int count = b.getShort(eocd + 10) & 0xffff;
    int cdSize = u32(b, eocd + 12), cdOffset = u32(b, eocd + 16);
    int shift = eocd - cdSize - cdOffset; // offsets count from where the zip starts
    int p = eocd - cdSize;
    for (int i = 0; i < count; i++) {
      if (u32(b, p) != 0x02014b50) throw new IllegalArgumentException("corrupt zip central directory");
      int method = b.getShort(p + 10) & 0xffff;
      int size = u32(b, p + 20);
      int nameLen = b.getShort(p + 28) & 0xffff, extraLen = b.getShort(p + 30) & 0xffff;
      int commentLen = b.getShort(p + 32) & 0xffff;
      int local = u32(b, p + 42) + shift;
      String name = new String(slice(model, (long) p + 46, nameLen), StandardCharsets.UTF_8);
      if (method != 0) throw new IllegalArgumentException("zip entry " + name + " is compressed; expected stored");
      int data = local + 30 + (b.getShort(local + 26) & 0xffff) + (b.getShort(local + 28) & 0xffff);
      out.put(name, slice(model, data, size & 0xffffffffL));
      p += 46 + nameLen + extraLen + commentLen;
    }
    return out;
  }
}
