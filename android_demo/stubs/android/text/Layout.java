package android.text;
public class Layout {}
