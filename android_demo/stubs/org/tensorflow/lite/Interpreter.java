package org.tensorflow.lite;
public class Interpreter implements AutoCloseable { public Interpreter(java.nio.ByteBuffer b, Options o) {}
  public static class Options { public Options setNumThreads(int n) { return this; } }
  public String[] getSignatureKeys() { return new String[0]; }
  public Tensor getOutputTensorFromSignature(String name, String sig) { return null; }
  public void runSignature(java.util.Map<String, Object> in, java.util.Map<String, Object> out, String sig) {}
  public void close() {} }
