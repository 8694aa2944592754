package org.lightrnn.keyboard.engine;

import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;

/** Runs the engine's JUnit 4 tests and prints a closing "N passed, N failed" line (exit 1 on failure). */
public final class RunTests {
  public static void main(String[] args) {
    Result r = JUnitCore.runClasses(KeyboardEngineTest.class, KeyLayoutTest.class);
    for (Failure f : r.getFailures()) {
      System.out.println("FAILED " + f.getTestHeader() + ": " + f.getMessage());
      System.out.println(f.getTrace());
    }
    int failed = r.getFailureCount(), skipped = r.getIgnoreCount() + r.getAssumptionFailureCount();
    System.out.println("junit: " + (r.getRunCount() - failed - skipped) + " passed, " + failed + " failed"
        + (skipped > 0 ? ", " + skipped + " skipped" : ""));
    System.exit(r.wasSuccessful() && skipped == 0 ? 0 : 1);
  }
}
