package org.lightrnn.keyboard.engine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader (RFC 8259) for the model's LIGHTRNN_METADATA: objects become
 * {@code Map<String, Object>}, arrays {@code List<Object>}, numbers {@code Double}, plus String,
 * Boolean and null. Plain Java, so the engine needs no Android (org.json) or third-party library.
 */
public final class Json {
  private final String s;
  private int i;

  private Json(String s) {
    this.s = s;
  }

  /** Parses one JSON value; throws JsonException (an IllegalArgumentException) with the offset of the first error. */
  public static Object parse(String text) {
    Json p = new Json(text);
    p.ws();
    Object v = p.value();
    p.ws();
    if (p.i != text.length()) throw p.error("trailing characters");
    return v;
  }

  /** Text that is not JSON (its message gives the offset of the first error). */
  public static final class JsonException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    JsonException(String message) {
      super(message);
    }
  }

  private JsonException error(String what) {
    return new JsonException("JSON: " + what + " at offset " + i);
  }

  private void ws() {
    while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++;
  }

  private Object value() {
    if (i >= s.length()) throw error("unexpected end");
    char c = s.charAt(i);
    switch (c) {
      case '{': return object();
      case '[': return array();
      case '"': return string();
      case 't': return literal("true", Boolean.TRUE);
      case 'f': return literal("false", Boolean.FALSE);
      case 'n': return literal("null", null);
      default: return number();
    }
  }

  private Object literal(String word, Object v) {
    if (!s.startsWith(word, i)) throw error("bad literal");
    i += word.length();
    return v;
  }

  private Map<String, Object> object() {
    Map<String, Object> out = new LinkedHashMap<>();
    i++;
    ws();
    if (i < s.length() && s.charAt(i) == '}') { i++; return out; }
    while (true) {
      ws();
      if (i >= s.length() || s.charAt(i) != '"') throw error("expected a key");
      String k = string();
      ws();
      if (i >= s.length() || s.charAt(i++) != ':') throw error("expected ':'");
      ws();
      out.put(k, value());
      ws();
      if (i >= s.length()) throw error("unexpected end");
      char c = s.charAt(i++);
      if (c == '}') return out;
      if (c != ',') throw error("expected ',' or '}'");
    }
  }

  private List<Object> array() {
    List<Object> out = new ArrayList<>();
    i++;
    ws();
    if (i < s.length() && s.charAt(i) == ']') { i++; return out; }
    while (true) {
      ws();
      out.add(value());
      ws();
      if (i >= s.length()) throw error("unexpected end");
      char c = s.charAt(i++);
      if (c == ']') return out;
      if (c != ',') throw error("expected ',' or ']'");
    }
  }

  private String string() {
    StringBuilder b = new StringBuilder();
    i++;
    while (true) {
      if (i >= s.length()) throw error("unterminated string");
      char c = s.charAt(i++);
      if (c == '"') return b.toString();
      if (c != '\\') { b.append(c); continue; }
      if (i >= s.length()) throw error("bad escape");
      char e = s.charAt(i++);
      switch (e) {
        case '"': b.append('"'); break;
        case '\\': b.append('\\'); break;
        case '/': b.append('/'); break;
        case 'b': b.append('\b'); break;
        case 'f': b.append('\f'); break;
        case 'n': b.append('\n'); break;
        case 'r': b.append('\r'); break;
        case 't': b.append('\t'); break;
        case 'u':
          if (i + 4 > s.length()) throw error("bad \\u escape");
          b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
          i += 4;
          break;
        default: throw error("bad escape");
      }
    }
  }

  private Double number() {
    int start = i;
    while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
    if (start == i) throw error("unexpected character '" + s.charAt(i) + "'");
    String t = s.substring(start, i);
    try {
      return Double.valueOf(t);
    } catch (NumberFormatException ex) {
      throw error("bad number " + t);
    }
  }

  // === Typed access ===

  @SuppressWarnings("unchecked")
  public static Map<String, Object> obj(Object o, String key) {
    Object v = ((Map<String, Object>) o).get(key);
    if (!(v instanceof Map)) throw new IllegalArgumentException("metadata: '" + key + "' is missing or not an object");
    return (Map<String, Object>) v;
  }

  @SuppressWarnings("unchecked")
  public static List<Object> list(Object o, String key) {
    Object v = ((Map<String, Object>) o).get(key);
    if (!(v instanceof List)) throw new IllegalArgumentException("metadata: '" + key + "' is missing or not a list");
    return (List<Object>) v;
  }

  @SuppressWarnings("unchecked")
  public static int integer(Object o, String key) {
    Object v = ((Map<String, Object>) o).get(key);
    if (!(v instanceof Number)) throw new IllegalArgumentException("metadata: '" + key + "' is missing or not a number");
    return ((Number) v).intValue();
  }

  @SuppressWarnings("unchecked")
  public static String string(Object o, String key) {
    Object v = ((Map<String, Object>) o).get(key);
    if (!(v instanceof String)) throw new IllegalArgumentException("metadata: '" + key + "' is missing or not a string");
    return (String) v;
  }

  @SuppressWarnings("unchecked")
  public static boolean bool(Object o, String key) {
    Object v = ((Map<String, Object>) o).get(key);
    return Boolean.TRUE.equals(v);
  }
}
