package org.lightrnn.keyboard

import android.content.Context
import android.os.Handler
import android.os.Looper
import android.os.SystemClock
import java.nio.ByteBuffer
import java.util.concurrent.Executors
import org.lightrnn.keyboard.engine.KeyboardEngine
import org.lightrnn.keyboard.engine.ModelMetadata

/**
 * Loads `assets/model.tflite` once per process and answers suggestion requests on one background
 * thread (the engine is single-threaded); results come back on the main thread with the latency.
 * Shared by [MainActivity] and [KeyboardService].
 */
class SuggestionHelper private constructor(context: Context) {
    data class Result(val text: String, val words: List<String>, val millis: Double)

    private val executor = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())
    private lateinit var engine: KeyboardEngine
    lateinit var meta: ModelMetadata
        private set
    var modelBytes = 0
        private set

    init {
        executor.execute {
            val bytes = context.assets.open(MODEL).use { it.readBytes() }
            modelBytes = bytes.size
            meta = ModelMetadata.read(bytes)  // vocabulary, tokenizer, table, shapes: all from the file
            val buffer = ByteBuffer.allocateDirect(bytes.size).put(bytes).apply { rewind() }
            engine = KeyboardEngine(meta, LiteRtInterpreter(buffer))
        }
    }

    /** Suggestions for the text before the cursor; `onResult` runs on the main thread. */
    fun suggest(textBeforeCursor: String, onResult: (Result) -> Unit) {
        executor.execute {
            val t0 = SystemClock.elapsedRealtimeNanos()
            // as a tap inserts them: "Ze" shows "Zebedee" with a lowercasing model
            val words = engine.suggest(textBeforeCursor, 3).map { engine.cased(textBeforeCursor, it.word) }
            val ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
            main.post { onResult(Result(textBeforeCursor, words, ms)) }
        }
    }

    /** Runs `block` on the main thread once the model is loaded. */
    fun whenReady(block: () -> Unit) = executor.execute { main.post(block) }

    fun accept(textBeforeCursor: String, word: String): String = engine.accept(textBeforeCursor, word)

    /** The typed partial word (to delete before inserting a tapped suggestion). */
    fun partial(textBeforeCursor: String): String = engine.tokenizer.splitTyped(textBeforeCursor).partial

    companion object {
        const val MODEL = "model.tflite"

        @Volatile
        private var instance: SuggestionHelper? = null

        fun get(context: Context): SuggestionHelper =
            instance ?: synchronized(this) {
                instance ?: SuggestionHelper(context.applicationContext).also { instance = it }
            }
    }
}
