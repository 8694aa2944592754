package org.lightrnn.keyboard.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The IME's keys and what a press does, without Android: a letters page and a digits-and-symbols
 * page, Shift (pressed once: the next letter is a capital; pressed again: caps lock; again: off),
 * and a capital by itself at the start of a sentence in fields that ask for one
 * (TYPE_TEXT_FLAG_CAP_SENTENCES). Number, phone and date fields open on the digits page.
 *
 * <p>KeyboardService draws {@link #rows()} with {@link #label(String)}, applies the {@link Action}
 * that {@link #press(String)} returns, and calls {@link #textChanged(String)} with the text before
 * the cursor whenever it may have changed.
 */
public final class KeyLayout {
  public static final String SHIFT = "⇧";
  public static final String CAPS_LOCK = "⇪"; // the Shift key's label while caps lock is on
  public static final String DEL = "⌫";
  public static final String ENTER = "⏎";
  public static final String SPACE = " ";
  public static final String TO_SYMBOLS = "?123";
  public static final String TO_LETTERS = "ABC";

  /** Shift: off, for the next letter, or locked. */
  public enum Shift { OFF, ONCE, LOCKED }

  /** What a key press asks the input method to do. */
  public static final class Action {
    /** COMMIT: commit {@link #text}; DELETE and ENTER: the keys' own work; REDRAW: only the keys changed. */
    public enum Kind { COMMIT, DELETE, ENTER, REDRAW }

    public final Kind kind;
    /** The text to commit (COMMIT), else "". */
    public final String text;

    private Action(Kind kind, String text) {
      this.kind = kind;
      this.text = text;
    }

    static final Action DELETE = new Action(Kind.DELETE, "");
    static final Action ENTER = new Action(Kind.ENTER, "");
    static final Action REDRAW = new Action(Kind.REDRAW, "");

    static Action commit(String text) {
      return new Action(Kind.COMMIT, text);
    }
  }

  private static final List<List<String>> LETTER_ROWS = rows(
      keys("qwertyuiop"),
      keys("asdfghjkl'"),
      join(Collections.singletonList(SHIFT), keys("zxcvbnm,."), Collections.singletonList(DEL)),
      Arrays.asList(TO_SYMBOLS, SPACE, ENTER));
  private static final List<List<String>> SYMBOL_ROWS = rows(
      keys("1234567890"),
      keys("@#$%&-+()/"),
      join(keys("*\"':;!?,."), Collections.singletonList(DEL)),
      Arrays.asList(TO_LETTERS, SPACE, ENTER));

  private boolean symbols;
  private Shift shift = Shift.OFF;
  private boolean autoShift; // Shift.ONCE set by a sentence start, not by the user
  private boolean capSentences;
  private Object lastPlace; // the text before the cursor (or the cursor) last seen

  /**
   * A new field: {@code numeric} (number, phone or date) opens the digits page; {@code
   * capSentences} turns on the capital at a sentence start. Shift starts off; call {@link
   * #textChanged(String)} with the field's text before the cursor next.
   */
  public void startInput(boolean numeric, boolean capSentences) {
    symbols = numeric;
    this.capSentences = capSentences && !numeric;
    shift = Shift.OFF;
    autoShift = false;
    lastPlace = null;
  }

  /** The keys of the page shown, row by row (what {@link #press(String)} and {@link #label(String)} take). */
  public List<List<String>> rows() {
    return symbols ? SYMBOL_ROWS : LETTER_ROWS;
  }

  public boolean symbolsShown() {
    return symbols;
  }

  public Shift shift() {
    return shift;
  }

  /** What the key shows now: letters in capitals while Shift is on. */
  public String label(String key) {
    if (key.equals(SPACE)) return "space";
    if (key.equals(SHIFT)) return shift == Shift.LOCKED ? CAPS_LOCK : SHIFT;
    return isLetter(key) && shift != Shift.OFF ? key.toUpperCase(Locale.ROOT) : key;
  }

  /** The key pressed: what to do, after which Shift and the page are as the next keys need them. */
  public Action press(String key) {
    switch (key) {
      case SHIFT:
        // an automatic capital is turned off by Shift; a capital the user asked for becomes caps lock
        shift = autoShift || shift == Shift.LOCKED ? Shift.OFF : shift == Shift.OFF ? Shift.ONCE : Shift.LOCKED;
        autoShift = false;
        return Action.REDRAW;
      case TO_SYMBOLS:
        symbols = true;
        return Action.REDRAW;
      case TO_LETTERS:
        symbols = false;
        return Action.REDRAW;
      case DEL:
        return Action.DELETE;
      case ENTER:
        return Action.ENTER;
      case SPACE:
        return Action.commit(SPACE);
      default:
        String text = label(key);
        if (isLetter(key) && shift == Shift.ONCE) {
          shift = Shift.OFF;
          autoShift = false;
        }
        return Action.commit(text);
    }
  }

  /**
   * A suggestion as a tap inserts it while Shift is on: a capital first letter (Shift once, or a
   * sentence start), all capitals (caps lock); else as it is. Show the chips this way too.
   */
  public String applyShift(String word) {
    if (shift == Shift.OFF || word.isEmpty()) return word;
    if (shift == Shift.LOCKED) return word.toUpperCase(Locale.ROOT);
    int n = Character.charCount(word.codePointAt(0));
    return word.substring(0, n).toUpperCase(Locale.ROOT) + word.substring(n);
  }

  /** A suggestion was tapped: a Shift for one letter is used up, as by a letter. */
  public void suggestionTapped() {
    if (shift == Shift.ONCE) {
      shift = Shift.OFF;
      autoShift = false;
    }
  }

  /**
   * The text before the cursor, after anything may have changed it: at a sentence start Shift goes
   * on by itself (in a field that asks for it), and off again once the text is no longer at one.
   * Returns whether the labels changed. The same text twice changes nothing, so Shift pressed to
   * cancel an automatic capital stays off until the text changes.
   */
  public boolean textChanged(String before) {
    return changed(before, sentenceStart(before));
  }

  /**
   * {@link #textChanged(String)} for a field that is never read (a password or no-suggestions
   * field): {@code cursor} stands for the text (the selection start the editor reported), and
   * {@code sentenceStart} is what the editor says of it (Android's {@code getCursorCapsMode}).
   */
  public boolean capsModeChanged(int cursor, boolean sentenceStart) {
    return changed(cursor, sentenceStart);
  }

  private boolean changed(Object place, boolean sentenceStart) {
    if (place.equals(lastPlace)) return false;
    lastPlace = place;
    Shift old = shift;
    boolean start = capSentences && sentenceStart; // on the symbols page too: "?" and "!" are there
    if (start && shift == Shift.OFF) {
      shift = Shift.ONCE;
      autoShift = true;
    } else if (!start && autoShift) {
      shift = Shift.OFF;
      autoShift = false;
    }
    return shift != old;
  }

  /**
   * Whether a sentence starts at the end of {@code before}: it is empty or blank, ends a line, or
   * ends with whitespace after '.', '!' or '?' (closing quotes and brackets between them allowed).
   */
  public static boolean sentenceStart(String before) {
    int i = before.length();
    if (i > 0 && !Tokenizer.isSpace(before.charAt(i - 1))) return false;
    while (i > 0 && Tokenizer.isSpace(before.charAt(i - 1))) {
      if (Tokenizer.normalizeLines(before.substring(i - 1, i)).equals("\n")) return true;
      i--;
    }
    if (i == 0) return true;
    while (i > 0 && "\"')]”’»".indexOf(before.charAt(i - 1)) >= 0) i--;
    return i > 0 && ".!?".indexOf(before.charAt(i - 1)) >= 0;
  }

  private static boolean isLetter(String key) {
    return key.codePointCount(0, key.length()) == 1 && Character.isLetter(key.codePointAt(0));
  }

  private static List<String> keys(String chars) {
    List<String> out = new ArrayList<>();
    chars.codePoints().forEach(c -> out.add(new String(Character.toChars(c))));
    return out;
  }

  @SafeVarargs
  private static List<String> join(List<String>... parts) {
    List<String> out = new ArrayList<>();
    for (List<String> p : parts) out.addAll(p);
    return out;
  }

  @SafeVarargs
  private static List<List<String>> rows(List<String>... rows) {
    List<List<String>> out = new ArrayList<>();
    for (List<String> r : rows) out.add(Collections.unmodifiableList(r));
    return Collections.unmodifiableList(out);
  }
}
