package androidx.appcompat.app;
public class AppCompatActivity extends android.content.Context { protected void onCreate(android.os.Bundle b) {} public void setContentView(int id) {}
  public <T extends android.view.View> T findViewById(int id) { return null; } }
