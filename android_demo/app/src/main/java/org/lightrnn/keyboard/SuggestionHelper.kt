package org.lightrnn.keyboard

import android.content.Context
import android.os.Handler
import android.os.Looper
import android.os.SystemClock
import java.util.concurrent.Callable
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors
import org.lightrnn.keyboard.engine.KeyboardEngine
import org.lightrnn.keyboard.engine.ModelInterpreter
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
    private val latest = ConcurrentHashMap<String, String>()  // per client: the Activity's and the keyboard's
    @Volatile private var engine: KeyboardEngine? = null
    @Volatile var meta: ModelMetadata? = null
        private set
    @Volatile var modelBytes = 0
        private set
    /** Why the model could not be loaded (shown instead of suggestions), or null. */
    @Volatile var loadError: String? = null
        private set

    init {
        executor.execute {
            try {
                val bytes = context.assets.open(MODEL).use { it.readBytes() }
                modelBytes = bytes.size
                val m = ModelMetadata.read(bytes)  // vocabulary, tokenizer, table, shapes: all from the file
                // a direct buffer in the native byte order: LiteRT refuses a big-endian one
                engine = KeyboardEngine(m, LiteRtInterpreter(ModelInterpreter.modelBuffer(bytes)))
                meta = m
            } catch (e: Exception) {  // a missing or wrong model must not take the app or the keyboard down
                loadError = "cannot load assets/$MODEL: ${e.message}"
            }
        }
    }

    /**
     * Suggestions for the text before the cursor; `onResult` runs on the main thread. A request
     * that a newer one of the same `client` has replaced before it started is dropped, so fast typing
     * does not queue up.
     */
    fun suggest(client: String, textBeforeCursor: String, onResult: (Result) -> Unit) {
        latest[client] = textBeforeCursor
        executor.execute {
            if (latest[client] != textBeforeCursor) return@execute
            val e = engine ?: return@execute
            val t0 = SystemClock.elapsedRealtimeNanos()
            // as a tap inserts them: "Ze" shows "Zebedee" with a lowercasing model
            val words = try {
                val partial = e.tokenizer.splitTyped(textBeforeCursor).partial
                e.suggest(textBeforeCursor, 3).map { e.cased(textBeforeCursor, it.word, partial) }
            } catch (ex: RuntimeException) {
                emptyList<String>()
            }
            val ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
            main.post { onResult(Result(textBeforeCursor, words, ms)) }
        }
    }

    /** Runs `block` on the main thread once the model is loaded (or failed to: see [loadError]). */
    fun whenReady(block: () -> Unit) = executor.execute { main.post(block) }

    /**
     * The text around the cursor after tapping `word`: (before, after), the cursor between them
     * (KeyboardEngine.acceptAt: the whole word under the cursor is replaced, one space after it).
     */
    fun acceptAt(before: String, after: String, word: String): Pair<String, String> {
        val e = engine ?: return Pair(before, after)
        // on the engine's one thread, waited for: the engine is not thread-safe (its caches of the
        // text's tokens are written by suggest and by a tap), and the tap's edit needs the result
        val r = executor.submit(Callable { e.acceptAt(before, after, word) }).get()
        return Pair(r[0], r[1])
    }

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
