package org.lightrnn.keyboard

import android.inputmethodservice.InputMethodService
import android.view.KeyEvent
import android.view.View
import android.view.inputmethod.EditorInfo
import android.widget.Button
import android.widget.LinearLayout

/**
 * An input method: a minimal QWERTY under the same suggestion strip as the Activity, fed by the
 * same engine. Suggestions follow the text before the cursor of whatever field is being edited.
 */
class KeyboardService : InputMethodService() {
    private lateinit var helper: SuggestionHelper
    private lateinit var chips: List<Button>

    override fun onCreate() {
        super.onCreate()
        helper = SuggestionHelper.get(this)
    }

    override fun onCreateInputView(): View {
        val root = layoutInflater.inflate(R.layout.keyboard_view, null)
        chips = listOf(R.id.chip0, R.id.chip1, R.id.chip2).map { root.findViewById(it) }
        chips.forEach { chip -> chip.setOnClickListener { tap(chip.text.toString()) } }
        val keys = root.findViewById<LinearLayout>(R.id.keys)
        for (row in ROWS) {
            val line = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
            for (key in row) {
                line.addView(Button(this).apply {
                    text = LABELS[key] ?: key
                    isAllCaps = false
                    setOnClickListener { press(key) }
                }, LinearLayout.LayoutParams(0, LinearLayout.LayoutParams.WRAP_CONTENT, if (key == " ") 5f else 1f))
            }
            keys.addView(line)
        }
        return root
    }

    override fun onStartInputView(info: EditorInfo?, restarting: Boolean) {
        super.onStartInputView(info, restarting)
        refresh()
    }

    private fun before(): String =
        currentInputConnection?.getTextBeforeCursor(MAX_CONTEXT, 0)?.toString() ?: ""

    private fun press(key: String) {
        val ic = currentInputConnection ?: return
        when (key) {
            DEL -> ic.deleteSurroundingText(1, 0)
            ENTER -> ic.sendKeyEvent(KeyEvent(KeyEvent.ACTION_DOWN, KeyEvent.KEYCODE_ENTER))
                .also { ic.sendKeyEvent(KeyEvent(KeyEvent.ACTION_UP, KeyEvent.KEYCODE_ENTER)) }
            else -> ic.commitText(key, 1)
        }
        refresh()
    }

    private fun tap(word: String) {
        val ic = currentInputConnection ?: return
        if (word.isEmpty()) return
        val partial = helper.partial(before())
        ic.deleteSurroundingText(partial.length, 0)
        ic.commitText("$word ", 1)
        refresh()
    }

    private fun refresh() {
        val typed = before()
        helper.suggest(typed) { r ->
            if (r.text != before()) return@suggest
            chips.forEachIndexed { i, c -> c.text = r.words.getOrElse(i) { "" } }
        }
    }

    companion object {
        private const val MAX_CONTEXT = 500
        private const val DEL = "⌫"
        private const val ENTER = "⏎"
        private val LABELS = mapOf(" " to "space")
        private val ROWS = listOf(
            "qwertyuiop".map { it.toString() },
            "asdfghjkl'".map { it.toString() },
            "zxcvbnm,.".map { it.toString() } + DEL,
            listOf(" ", ENTER),
        )
    }
}
