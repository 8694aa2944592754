package org.lightrnn.keyboard.engine;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.Assume;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The plain-Java engine against the Python predictor: a real exported model's metadata (flatbuffer
 * + appended vocab.txt), the tokenizer on reference texts, and every recorded suggestion reproduced
 * by the exact top-k / completion loops over a replaying interpreter. The fixture folder comes
 * from {@code python tests/keyboard_fixtures.py --out DIR}, passed as -Dkeyboard.fixtures=DIR.
 */
public class KeyboardEngineTest {
  static Object replay;
  static byte[] model;
  static ModelMetadata meta;

  @BeforeClass
  public static void load() throws IOException {
    String dir = System.getProperty("keyboard.fixtures", System.getenv().getOrDefault("KEYBOARD_FIXTURES", ""));
    Assume.assumeTrue("set -Dkeyboard.fixtures=DIR", !dir.isEmpty() && Files.exists(Paths.get(dir, "replay.json")));
    replay = Json.parse(new String(Files.readAllBytes(Paths.get(dir, "replay.json")), StandardCharsets.UTF_8));
    Path path = Paths.get(dir, Json.string(replay, "model"));
    model = Files.readAllBytes(path);
    meta = ModelMetadata.read(model);
  }

  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> records(String key) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Object o : Json.list(replay, key)) out.add((Map<String, Object>) o);
    return out;
  }

  static List<Integer> intList(List<Object> xs) {
    List<Integer> out = new ArrayList<>();
    for (Object x : xs) out.add(((Number) x).intValue());
    return out;
  }

  @Test
  public void metadataAndVocabularyComeFromTheModelFile() {
    assertEquals("<unk>", meta.vocab.get(meta.unkId));
    assertEquals("<eos>", meta.vocab.get(meta.eosId));
    assertEquals(1, meta.expandRows);
    assertEquals(4, meta.maxK);
    assertTrue(meta.rows * meta.cols > meta.vocab.size()); // the fixture's table has empty cells
    for (Map<String, Object> c : records("cases")) {
      List<Integer> ids = intList(Json.list(c, "ids"));
      List<Object> words = Json.list(c, "words");
      for (int i = 0; i < ids.size(); i++) assertEquals(words.get(i), meta.vocab.get(ids.get(i)));
    }
    // every word's row holds it: the table decodes consistently with the recorded expand outputs
    Map<String, Object> anyState = (Map<String, Object>) Json.obj(replay, "states").values().iterator().next();
    List<Object> rows = Json.list(anyState, "rows_words");
    for (int r = 0; r < rows.size(); r++) {
      for (int w : ReplayInterpreter.ints((List<Object>) rows.get(r))) if (w >= 0) assertEquals(r, meta.wordRow[w]);
    }
  }

  @Test
  public void filesWithoutLightRnnMetadataAreRefused() throws IOException {
    try {
      ModelMetadata.read(new byte[64]);
      fail("expected an error");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("not a TFLite model"));
    }
    String dir = System.getProperty("keyboard.fixtures", System.getenv().getOrDefault("KEYBOARD_FIXTURES", ""));
    try {
      ModelMetadata.read(Files.readAllBytes(Paths.get(dir, Json.string(replay, "baseline_model"))));
      fail("expected an error");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("full_softmax_lstm model; the keyboard runs LightRNN exports"));
    }
    byte[] noZip = Arrays.copyOf(model, model.length);
    int eocd = -1;
    for (int i = noZip.length - 22; i >= 0; i--) {
      if (noZip[i] == 0x50 && noZip[i + 1] == 0x4b && noZip[i + 2] == 5 && noZip[i + 3] == 6) { eocd = i; break; }
    }
    noZip[eocd] = 0; // break the zip's end record: the vocabulary is gone
    try {
      ModelMetadata.read(noZip);
      fail("expected an error");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("vocab"));
    }
  }

  @Test
  public void theModelBufferIsDirectAndInTheNativeByteOrderAsLiteRtNeeds() {
    java.nio.ByteBuffer buffer = ModelInterpreter.modelBuffer(model);
    assertTrue(buffer.isDirect());
    assertEquals(java.nio.ByteOrder.nativeOrder(), buffer.order());
    assertEquals(0, buffer.position());
    byte[] back = new byte[buffer.remaining()];
    buffer.duplicate().get(back);
    assertArrayEquals(model, back);
  }

  @Test
  public void truncatedOrDamagedFilesAreRefusedWithOneMessage() {
    for (int n : new int[] {4096, model.length / 2, (int) (model.length * 0.9), model.length - 10}) {
      try {
        ModelMetadata.read(Arrays.copyOf(model, n));
        fail("expected an error for the first " + n + " of " + model.length + " bytes");
      } catch (IllegalArgumentException e) {
        assertTrue(n + ": " + e.getMessage(), e.getMessage().contains("truncated"));
      }
    }
    byte[] damaged = Arrays.copyOf(model, model.length);
    Arrays.fill(damaged, 8, 64, (byte) 0xff); // the root table's vtable and the start of the flatbuffer
    damaged[0] = (byte) 0xff; damaged[1] = (byte) 0xff; damaged[2] = (byte) 0xff; damaged[3] = 0x7f; // root far away
    try {
      ModelMetadata.read(damaged);
      fail("expected an error");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("truncated or corrupt"));
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  public void filesOfOlderTokenizerRulesAreReadAsTheirTrainingReadThem() throws IOException {
    // rules 2: emoji split; rules 3: invisible characters kept (split_punct and whitespace tokens)
    List<Object> olds = Json.list(replay, "old_rules");
    assertEquals(3, olds.size());
    for (Object o : olds) {
      Map<String, Object> old = (Map<String, Object>) o;
      ModelMetadata oldMeta = fixtureMetadata(Json.string(old, "model"));
      assertEquals(Json.integer(old, "rules"), oldMeta.rulesVersion);
      assertNull(oldMeta.removeChars);
      assertTokenizerCases(oldMeta, Json.list(old, "tokenize"));
    }
  }

  @Test
  public void tokenizerEqualsPythonWithoutSplitPunct() throws IOException {
    Map<String, Object> ws = Json.obj(replay, "whitespace");
    ModelMetadata wsMeta = fixtureMetadata(Json.string(ws, "model"));
    assertFalse(wsMeta.splitPunct);
    assertTokenizerCases(wsMeta, Json.list(ws, "tokenize"));
  }

  private static ModelMetadata fixtureMetadata(String name) throws IOException {
    String dir = System.getProperty("keyboard.fixtures", System.getenv().getOrDefault("KEYBOARD_FIXTURES", ""));
    return ModelMetadata.read(Files.readAllBytes(Paths.get(dir, name)));
  }

  /** The tokens, context ids, committed ids and partial word of every case, as Python's. */
  @SuppressWarnings("unchecked")
  private static void assertTokenizerCases(ModelMetadata m, List<Object> cases) {
    Tokenizer tok = new Tokenizer(m);
    for (Object o : cases) {
      Map<String, Object> c = (Map<String, Object>) o;
      String text = Json.string(c, "text");
      String first = Tokenizer.normalizeLines(text).split("\n", -1)[0];
      assertEquals(text, Json.list(c, "tokens"), new ArrayList<Object>(tok.tokenize(first)));
      assertEquals(text, intList(Json.list(c, "context")), tok.encodeContext(text));
      Tokenizer.Typed typed = tok.splitTyped(text);
      assertEquals(text, intList(Json.list(c, "committed")), typed.committed);
      assertEquals(text, Json.string(c, "partial"), typed.partial);
    }
  }

  @Test
  public void tokenizerEqualsPython() {
    assertTokenizerCases(meta, Json.list(replay, "tokenize"));
  }

  @Test
  public void marksAsOnePropertySplitEveryCharacterAsTheListedMarks() {
    java.util.regex.Pattern fast = java.util.regex.Pattern.compile(Tokenizer.pythonPattern(meta.splitPunctPattern));
    java.util.regex.Pattern listed =
        java.util.regex.Pattern.compile(Tokenizer.pythonPattern(meta.splitPunctPattern, false));
    assertTrue(fast.pattern().contains("\\p{M}") && fast.pattern().length() < listed.pattern().length() / 2);
    for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
      int type = Character.getType(cp);
      if (type == Character.UNASSIGNED || type == Character.SURROGATE) continue;
      String s = "a" + new String(Character.toChars(cp)) + "b c";
      assertEquals(Integer.toHexString(cp), tokens(listed, s), tokens(fast, s));
    }
  }

  private static List<String> tokens(java.util.regex.Pattern p, String s) {
    List<String> out = new ArrayList<>();
    java.util.regex.Matcher m = p.matcher(s);
    while (m.find()) out.add(m.group());
    return out;
  }

  @Test
  public void suggestionsEqualPythonPredictor() {
    ReplayInterpreter interp = new ReplayInterpreter(replay, meta.cols);
    KeyboardEngine engine = new KeyboardEngine(meta, interp, 64, 0.0, 500); // the model alone: Python's suggest_ids
    int completions = 0;
    for (Map<String, Object> c : records("cases")) {
      String text = Json.string(c, "text");
      List<KeyboardEngine.Suggestion> got = engine.suggest(text, 3);
      List<Object> words = Json.list(c, "words");
      List<Object> lps = Json.list(c, "log_probs");
      assertEquals(text, words.size(), got.size());
      for (int i = 0; i < got.size(); i++) {
        assertEquals(text, words.get(i), got.get(i).word);
        assertEquals(text, ((Number) lps.get(i)).floatValue(), got.get(i).logProb, 0.0f);
      }
      if (!Json.string(c, "partial").isEmpty()) completions++;
    }
    assertTrue(completions > 50);
    int contexts = Json.obj(replay, "states").size();
    assertTrue("early stop: not every row of every context", interp.expandedRows.size() < contexts * meta.rows);
    assertTrue("state cache: one feed per context", interp.feedCalls <= Json.obj(replay, "feeds").size());
  }

  @Test
  @SuppressWarnings("unchecked")
  public void bruteForceOverRecordedTablesAgrees() {
    KeyboardEngine engine = new KeyboardEngine(meta, new ReplayInterpreter(replay, meta.cols), 64, 0.0, 500);
    Set<Integer> special = new HashSet<>(Arrays.asList(meta.unkId, meta.eosId));
    int n = 0;
    for (Map<String, Object> c : records("cases")) {
      String text = Json.string(c, "text");
      Tokenizer.Typed typed = engine.tokenizer.splitTyped(text);
      KeyboardEngine.Context ctx = engine.context(typed.committed);
      Map<String, Object> rec = (Map<String, Object>) Json.obj(replay, "states").get(ReplayInterpreter.hex(ctx.state));
      List<Object> rowsWords = Json.list(rec, "rows_words"), rowsLps = Json.list(rec, "rows_log_probs");
      List<int[]> all = new ArrayList<>();
      List<Float> scores = new ArrayList<>();
      for (int r = 0; r < rowsWords.size(); r++) {
        int[] w = ReplayInterpreter.ints((List<Object>) rowsWords.get(r));
        float[] lp = ReplayInterpreter.floats((List<Object>) rowsLps.get(r));
        for (int j = 0; j < w.length; j++) {
          if (w[j] >= 0 && !special.contains(w[j]) && meta.vocab.get(w[j]).startsWith(typed.partial)) {
            all.add(new int[] {w[j], scores.size()});
            scores.add(lp[j]);
          }
        }
      }
      all.sort((a, b) -> {
        int s = Float.compare(scores.get(b[1]), scores.get(a[1]));
        return s != 0 ? s : Integer.compare(a[0], b[0]);
      });
      List<KeyboardEngine.Suggestion> got = engine.suggest(text, 3);
      for (int i = 0; i < got.size(); i++) assertEquals(text, all.get(i)[0], got.get(i).id);
      assertEquals(text, Math.min(3, all.size()), got.size());
      n++;
    }
    assertTrue(n > 100);
  }

  @Test
  public void historySuggestionsEqualPythonPredictor() {
    Map<String, Object> h = Json.obj(replay, "history");
    double weight = ((Number) h.get("weight")).doubleValue();
    int words = ((Number) h.get("words")).intValue();
    KeyboardEngine engine = new KeyboardEngine(meta, new ReplayInterpreter(replay, meta.cols), 64, weight, words);
    int unknown = 0, n = 0;
    for (Object o : Json.list(h, "cases")) {
      @SuppressWarnings("unchecked")
      Map<String, Object> c = (Map<String, Object>) o;
      String text = Json.string(c, "text");
      List<KeyboardEngine.Suggestion> got = engine.suggest(text, 3);
      List<Object> want = Json.list(c, "words");
      List<Object> scores = Json.list(c, "scores");
      assertEquals(text, want.size(), got.size());
      for (int i = 0; i < got.size(); i++) {
        assertEquals(text, want.get(i), got.get(i).word);
        double s = ((Number) scores.get(i)).doubleValue();
        assertEquals(text, s, got.get(i).score, 1e-12 * s);
        if (got.get(i).id == -1) {
          unknown++;
          assertTrue(text, !meta.vocab.contains(got.get(i).word));
        }
      }
      n++;
    }
    assertTrue(n > 100 && unknown > 10);
    Map<String, Integer> counts = engine.history("one two <unk> three four five six seven eight nine ten eleven twelve thirteen fi");
    assertEquals(12, words);
    assertEquals(words, counts.size()); // the last 12 committed tokens: "two" .. "thirteen" (<unk> and "fi" not kept)
    assertTrue(!counts.containsKey("one") && counts.containsKey("two") && !counts.containsKey("fi"));
    try {
      new KeyboardEngine(meta, null, 64, 1.0, 10);
      fail("expected an error");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage().contains("historyWeight"));
    }
  }

  @Test
  public void acceptReplacesThePartialWord() {
    KeyboardEngine engine = new KeyboardEngine(meta, new ReplayInterpreter(replay, meta.cols));
    assertEquals("The cat ", engine.accept("The ca", "cat"));
    assertEquals("The cat ", engine.accept("The ", "cat"));
    assertEquals("the ", engine.accept("", "the"));
  }

  @Test
  public void aTapKeepsTheTypedCapitalsAsPythonDoes() {
    KeyboardEngine engine = new KeyboardEngine(meta, new ReplayInterpreter(replay, meta.cols));
    int changed = 0;
    for (Map<String, Object> c : records("accept")) {
      String text = Json.string(c, "text"), word = Json.string(c, "word");
      assertEquals(text, Json.string(c, "cased"), engine.cased(text, word));
      assertEquals(text, Json.string(c, "accepted"), engine.accept(text, word));
      if (!Json.string(c, "cased").equals(word)) changed++;
    }
    assertTrue(changed > 3);
    for (Map<String, Object> c : records("accept_at")) {
      String[] got = engine.acceptAt(Json.string(c, "before"), Json.string(c, "after"), Json.string(c, "word"));
      assertEquals(c.toString(), Json.list(c, "result"), Arrays.asList((Object[]) got));
    }
    assertEquals("Zebedee", KeyboardEngine.matchCase("Ze", "zebedee"));
    assertEquals("ZEBEDEE", KeyboardEngine.matchCase("ZE", "zebedee"));
    assertEquals("McDonald", KeyboardEngine.matchCase("McD", "mcdonald")); // capitals stay where typed
    // a typed apostrophe is read as the vocabulary's when it holds only one (export/text.py apostrophe_fold)
    assertArrayEquals(new char[] {'\u2019', '\''}, Tokenizer.apostropheFold(Arrays.asList("<unk>", "don't", "'")));
    assertArrayEquals(new char[] {'\'', '\u2019'}, Tokenizer.apostropheFold(Arrays.asList("<unk>", "don\u2019t", "'")));
    assertNull(Tokenizer.apostropheFold(Arrays.asList("don't", "l\u2019homme")));
    assertNull(Tokenizer.apostropheFold(Arrays.asList("dont", "'")));
    assertEquals("iPhone", KeyboardEngine.matchCase("iPh", "iphone"));
  }

  @Test
  public void historyOfLongTextsEqualsPython() {
    Map<String, Object> h = Json.obj(replay, "history_tokens");
    int words = ((Number) h.get("words")).intValue();
    KeyboardEngine engine = new KeyboardEngine(meta, new ReplayInterpreter(replay, meta.cols), 64, 0.1, words);
    for (Object o : Json.list(h, "cases")) {
      @SuppressWarnings("unchecked")
      Map<String, Object> c = (Map<String, Object>) o;
      String text = Json.string(c, "text");
      Map<String, Integer> want = new java.util.TreeMap<>();
      for (Object t : Json.list(c, "tokens")) want.merge((String) t, 1, Integer::sum);
      assertEquals(text, want, new java.util.TreeMap<>(engine.history(text)));
    }
  }

  @Test
  public void jsonReaderHandlesEscapesAndNesting() {
    Object o = Json.parse("{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\n\"], \"b\": {}}");
    List<Object> a = Json.list(o, "a");
    assertEquals(-2500.0, ((Number) a.get(1)).doubleValue(), 0);
    assertEquals("x\u00e9\n", a.get(4));
    try {
      Json.parse("{\"a\": [1,}");
      fail("expected an error");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage().startsWith("JSON:"));
    }
  }
}
