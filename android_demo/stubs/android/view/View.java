package android.view;
public class View { public View(android.content.Context c) {} 
  public interface OnClickListener { void onClick(View v); }
  public void setOnClickListener(OnClickListener l) {}
  public <T extends View> T findViewById(int id) { return null; } }
