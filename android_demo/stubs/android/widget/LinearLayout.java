package android.widget;
public class LinearLayout extends android.view.ViewGroup { public LinearLayout(android.content.Context c) { super(c); }
  public static final int HORIZONTAL = 0, VERTICAL = 1; public void setOrientation(int o) {} public int getOrientation() { return 0; }
  public static class LayoutParams extends android.view.ViewGroup.LayoutParams { public LayoutParams(int w, int h, float weight) { super(w, h); } } }
