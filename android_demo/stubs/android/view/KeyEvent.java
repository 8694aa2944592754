package android.view;
public class KeyEvent { public static final int KEYCODE_DEL = 67, KEYCODE_ENTER = 66; }
