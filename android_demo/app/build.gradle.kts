import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "org.lightrnn.keyboard"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.lightrnn.keyboard"
        minSdk = 26  // the engine uses java.util.Base64 (API 26) and Java 8 streams and Map defaults (API 24)
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    androidResources {
        noCompress += "tflite"  // stored uncompressed in the APK (read once at start into a direct buffer)
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)  // kotlinOptions { jvmTarget } is deprecated since Kotlin 2.0, an error from 2.3
    }
}

dependencies {
    implementation(project(":engine"))
    implementation(libs.litert)
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.appcompat)
}
