package android.inputmethodservice;
import android.view.*; import android.view.inputmethod.*;
public class InputMethodService extends android.content.Context {
  public void onCreate() {} public View onCreateInputView() { return null; }
  public void onStartInput(EditorInfo a, boolean restarting) {} public void onStartInputView(EditorInfo a, boolean restarting) {}
  public void onUpdateSelection(int a, int b, int c, int d, int e, int f) {}
  public InputConnection getCurrentInputConnection() { return null; } public EditorInfo getCurrentInputEditorInfo() { return null; }
  public LayoutInflater getLayoutInflater() { return null; } public void sendDownUpKeyEvents(int code) {} }
