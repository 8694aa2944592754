package android.view.inputmethod;
public class EditorInfo { public int inputType, imeOptions, initialSelStart;
  public static final int IME_MASK_ACTION = 0xff, IME_ACTION_UNSPECIFIED = 0, IME_ACTION_NONE = 1, IME_FLAG_NO_ENTER_ACTION = 0x40000000; }
