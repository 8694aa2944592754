#!/usr/bin/env bash
# Keyboard demo checks (issue 10): Python keyboard/evaluation tests, the web demo in Debian's
# chromium via playwright, node's test runner on the JS engine, the Android engine's JUnit 4
# tests on the JVM, and the app's Kotlin compiled against API stubs. Installs what is missing
# (apt: chromium, junit4, nodejs/npm, a JDK, kotlin; npm ci in
# web_demo); the Python packages (playwright, nltk) come with requirements.txt. Called from .ci/run; PYTHON may name the
# interpreter (default: .venv/bin/python, else python3). KEYBOARD_PYTEST=0 leaves out the last
# step (tests/test_keyboard*.py) for a caller whose own `pytest tests` runs those files anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
WORK="$(mktemp -d /tmp/lightrnn_keyboard_ci.XXXXXX)"
export KEYBOARD_FIXTURES="$WORK/fixtures"
export KEYBOARD_ARTIFACTS="${KEYBOARD_ARTIFACTS:-$WORK/artifacts}"
export KEYBOARD_REQUIRE_BROWSER=1  # after the installs below, a browser test may not skip

# --- system packages ---
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v javac >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/junit4.jar ] || need+=(junit4)
command -v kotlinc >/dev/null || need+=(kotlin)
if [ ${#need[@]} -gt 0 ]; then
  echo "keyboard: apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- npm packages (pinned by package-lock.json) ---
(cd web_demo && npm ci --no-audit --no-fund --loglevel=error)

# --- reference outputs of the Python predictor for the JS and Java engines ---
"$PYTHON" tests/keyboard_fixtures.py --out "$KEYBOARD_FIXTURES"

# --- JS engine: node's test runner ---
(cd web_demo && node --test test/)

# --- Android engine: javac + JUnit 4 (no Gradle, no Android SDK here) ---
CP_JUNIT=/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar
javac -Xlint:all -Werror -d "$WORK/engine" $(find android_demo/engine/src/main/java -name '*.java')
javac -nowarn -cp "$WORK/engine:$CP_JUNIT" -d "$WORK/engine-test" $(find android_demo/engine/src/test/java -name '*.java')
java -cp "$WORK/engine:$WORK/engine-test:$CP_JUNIT" -Dkeyboard.fixtures="$KEYBOARD_FIXTURES" \
  org.lightrnn.keyboard.engine.RunTests

# --- Android app: its Kotlin compiled against stubs of the Android APIs it calls (android_demo/stubs) ---
"$PYTHON" android_demo/stubs/make_r.py android_demo/app/src/main/res > "$WORK/R.java"
javac -nowarn -d "$WORK/android-stubs" $(find android_demo/stubs -name '*.java') "$WORK/R.java" \
  $(find android_demo/engine/src/main/java -name '*.java')
kotlinc -nowarn -jvm-target 1.8 -cp "$WORK/android-stubs" $(find android_demo/app/src/main/java -name '*.kt') -d "$WORK/app-classes" 2>&1 \
  | grep -v 'Xverify:none' || true
[ -f "$WORK/app-classes/org/lightrnn/keyboard/KeyboardService.class" ] || { echo "kotlinc: the app does not compile"; exit 1; }
echo "kotlinc: the app compiles against the stubs"

# --- Python: completion logic, evaluation, KN vs NLTK, serve, and the browser tests ---
[ "${KEYBOARD_PYTEST:-1}" = 0 ] && exit 0
"$PYTHON" -m pytest -q tests/test_keyboard.py tests/test_keyboard_evaluate.py tests/test_keyboard_serve.py tests/test_keyboard_browser.py
echo "keyboard: screenshots and latency.json in $KEYBOARD_ARTIFACTS"
