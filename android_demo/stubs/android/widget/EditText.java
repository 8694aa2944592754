package android.widget;
public class EditText extends TextView { public EditText(android.content.Context c) { super(c); }
  public android.text.Editable getText() { return null; } public int getSelectionStart() { return 0; } public int getSelectionEnd() { return 0; }
  public void setSelection(int i) {} public void addTextChangedListener(android.text.TextWatcher w) {} }
