package android.widget;
public class TextView extends android.view.View { public TextView(android.content.Context c) { super(c); }
  public CharSequence getText() { return ""; } public void setText(CharSequence t) {} public boolean isAllCaps() { return false; } public void setAllCaps(boolean b) {}
  public android.text.Layout getLayout() { return null; } }
