package android.view.inputmethod;
public interface InputConnection { CharSequence getTextBeforeCursor(int n, int flags); CharSequence getTextAfterCursor(int n, int flags);
  boolean beginBatchEdit(); boolean endBatchEdit(); boolean deleteSurroundingText(int before, int after);
  boolean commitText(CharSequence text, int pos); boolean performEditorAction(int action);
  int getCursorCapsMode(int reqModes); }
