package org.lightrnn.keyboard.engine;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

/** The IME's keys: pages, Shift, caps lock and the automatic capital at a sentence start. */
public class KeyLayoutTest {
  /** Presses the keys and edits `text` as KeyboardService would: what the user typed. */
  private static String type(KeyLayout layout, String text, String... keys) {
    StringBuilder t = new StringBuilder(text);
    layout.textChanged(t.toString());
    for (String key : keys) {
      KeyLayout.Action a = layout.press(key);
      if (a.kind == KeyLayout.Action.Kind.COMMIT) t.append(a.text);
      else if (a.kind == KeyLayout.Action.Kind.DELETE && t.length() > 0) t.setLength(t.length() - 1);
      else if (a.kind == KeyLayout.Action.Kind.ENTER) t.append('\n');
      layout.textChanged(t.toString());
    }
    return t.toString();
  }

  private static List<String> flat(List<List<String>> rows) {
    List<String> out = new ArrayList<>();
    for (List<String> r : rows) out.addAll(r);
    return out;
  }

  @Test
  public void shiftCapitalizesOneLetterThenLocksThenTurnsOff() {
    KeyLayout k = new KeyLayout();
    k.startInput(false, false);
    assertEquals("hI", type(k, "", "h", KeyLayout.SHIFT, "i"));
    assertEquals(KeyLayout.Shift.OFF, k.shift());
    assertEquals("ABc", type(k, "", KeyLayout.SHIFT, KeyLayout.SHIFT, "a", "b", KeyLayout.SHIFT, "c"));
    k.press(KeyLayout.SHIFT);
    assertEquals("Q", k.label("q"));
    k.press(KeyLayout.SHIFT);
    assertEquals(KeyLayout.CAPS_LOCK, k.label(KeyLayout.SHIFT));
    assertEquals("'", k.label("'"));  // only letters change
  }

  @Test
  public void aSentenceStartsWithACapitalInFieldsThatAskForOne() {
    KeyLayout k = new KeyLayout();
    k.startInput(false, true);
    String s = type(k, "", "h", "i", ".", KeyLayout.SPACE, "y", "o", KeyLayout.SPACE, "o", "k", "!", KeyLayout.ENTER,
        "s", "o");
    assertEquals("Hi. Yo ok!\nSo", s);
    // Shift cancels the automatic capital until the text changes; deleting back to a start restores it
    k.textChanged("Done. ");
    assertEquals(KeyLayout.Shift.ONCE, k.shift());
    k.press(KeyLayout.SHIFT);
    assertFalse(k.textChanged("Done. "));
    assertEquals("Done. x", type(k, "Done. ", "x"));
    assertEquals("Done. ", type(k, "Done. x", KeyLayout.DEL));
    assertEquals(KeyLayout.Shift.ONCE, k.shift());
    KeyLayout plain = new KeyLayout();
    plain.startInput(false, false);
    assertEquals("hi. yo", type(plain, "", "h", "i", ".", KeyLayout.SPACE, "y", "o"));
  }

  @Test
  public void aFieldThatIsNeverReadGetsItsCapitalFromTheEditorsCapsMode() {
    KeyLayout k = new KeyLayout();
    k.startInput(false, true);
    // the editor says a sentence starts at the cursor: Shift on, as for a read field
    assertTrue(k.capsModeChanged(0, true));
    assertEquals("H", k.label("h"));
    k.press("h");
    // the keystroke's own refresh comes before the editor reports the new cursor: nothing changes
    assertFalse(k.capsModeChanged(0, true));
    assertFalse(k.capsModeChanged(1, false));
    assertEquals(KeyLayout.Shift.OFF, k.shift());
    // Shift cancels the automatic capital until the cursor moves
    assertTrue(k.capsModeChanged(5, true));
    k.press(KeyLayout.SHIFT);
    assertFalse(k.capsModeChanged(5, true));
    assertEquals(KeyLayout.Shift.OFF, k.shift());
    assertTrue(k.capsModeChanged(7, true));
    // a field that does not ask for capitals gets none, whatever the editor says
    KeyLayout plain = new KeyLayout();
    plain.startInput(false, false);
    assertFalse(plain.capsModeChanged(0, true));
  }

  @Test
  public void aQuestionTypedOnTheSymbolsPageStartsASentenceToo() {
    KeyLayout k = new KeyLayout();
    k.startInput(false, true);
    assertEquals("Hi? So", type(k, "", "h", "i", KeyLayout.TO_SYMBOLS, "?", KeyLayout.SPACE, KeyLayout.TO_LETTERS, "s",
        "o"));
  }

  @Test
  public void aTappedSuggestionTakesTheShift() {
    KeyLayout k = new KeyLayout();
    k.startInput(false, true);
    k.textChanged("");
    assertEquals("The", k.applyShift("the"));  // a sentence start
    k.suggestionTapped();
    assertEquals(KeyLayout.Shift.OFF, k.shift());
    k.textChanged("The ");
    assertEquals("cat", k.applyShift("cat"));
    k.press(KeyLayout.SHIFT);
    k.press(KeyLayout.SHIFT);
    assertEquals("CAT", k.applyShift("cat"));
    k.suggestionTapped();
    assertEquals(KeyLayout.Shift.LOCKED, k.shift());  // caps lock stays
  }

  @Test
  public void sentenceStarts() {
    for (String t : new String[] {"", "  ", "Done. ", "Why? ", "He said \"go.\" ", "(so!) ", "one\n", "one\u2028",
        "Done.\u00a0", "Done.\u0085"}) {
      assertTrue(t, KeyLayout.sentenceStart(t));
    }
    for (String t : new String[] {"Done.", "Mr", "a, ", "the ", "3.5"}) {
      assertFalse(t, KeyLayout.sentenceStart(t));
    }
  }

  @Test
  public void numberFieldsOpenOnTheDigitsAndThePagesSwitch() {
    KeyLayout k = new KeyLayout();
    k.startInput(true, true);
    assertTrue(k.symbolsShown() && flat(k.rows()).containsAll(List.of("0", "9", "@", "?", KeyLayout.DEL)));
    assertEquals("42", type(k, "", "4", "2"));  // no automatic capital, no letters
    assertEquals(KeyLayout.Action.Kind.REDRAW, k.press(KeyLayout.TO_LETTERS).kind);
    assertFalse(k.symbolsShown());
    assertTrue(flat(k.rows()).containsAll(List.of("q", "m", KeyLayout.SHIFT, KeyLayout.TO_SYMBOLS, KeyLayout.SPACE)));
    assertEquals("space", k.label(KeyLayout.SPACE));
    assertEquals("a1 b", type(k, "", "a", KeyLayout.TO_SYMBOLS, "1", KeyLayout.SPACE, KeyLayout.TO_LETTERS, "b"));
    for (String key : flat(k.rows())) assertTrue(key, !k.label(key).isEmpty());
  }
}
