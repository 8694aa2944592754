// The keyboard engine: plain Java, no Android imports, unit-tested on the JVM.
// Its tests read -Dkeyboard.fixtures=DIR written by `python tests/keyboard_fixtures.py --out DIR`.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    systemProperty("keyboard.fixtures", System.getenv("KEYBOARD_FIXTURES") ?: "")
}
