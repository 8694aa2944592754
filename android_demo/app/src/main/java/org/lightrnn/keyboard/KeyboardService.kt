package org.lightrnn.keyboard

import android.inputmethodservice.InputMethodService
import android.text.InputType
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
    private var suggestionsOff = false  // a password or no-suggestions field: read nothing, suggest nothing

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

    /** Every field this keyboard is bound to, shown or not: a password field is never read. */
    override fun onStartInput(attribute: EditorInfo?, restarting: Boolean) {
        super.onStartInput(attribute, restarting)
        suggestionsOff = noSuggestions(attribute?.inputType ?: 0)
    }

    override fun onStartInputView(info: EditorInfo?, restarting: Boolean) {
        super.onStartInputView(info, restarting)  // onStartInput has already read the field type
        refresh()
    }

    /** The cursor moved, or the app changed the text: suggest for the new place. */
    override fun onUpdateSelection(oldSelStart: Int, oldSelEnd: Int, newSelStart: Int, newSelEnd: Int,
                                   candidatesStart: Int, candidatesEnd: Int) {
        super.onUpdateSelection(oldSelStart, oldSelEnd, newSelStart, newSelEnd, candidatesStart, candidatesEnd)
        refresh()
    }

    private fun before(): String =
        currentInputConnection?.getTextBeforeCursor(MAX_CONTEXT, 0)?.toString() ?: ""

    private fun press(key: String) {
        val ic = currentInputConnection ?: return
        when (key) {
            DEL -> sendDownUpKeyEvents(KeyEvent.KEYCODE_DEL)  // deletes a selection, or a whole emoji
            ENTER -> enter()
            else -> ic.commitText(key, 1)
        }
        refresh()
    }

    /** The field's own action (send, search, go...) when it asks for one, else a new line. */
    private fun enter() {
        val options = currentInputEditorInfo?.imeOptions ?: 0
        val action = options and EditorInfo.IME_MASK_ACTION
        val noAction = options and EditorInfo.IME_FLAG_NO_ENTER_ACTION != 0
        if (!noAction && action != EditorInfo.IME_ACTION_NONE && action != EditorInfo.IME_ACTION_UNSPECIFIED) {
            currentInputConnection?.performEditorAction(action)
        } else {
            sendDownUpKeyEvents(KeyEvent.KEYCODE_ENTER)
        }
    }

    private fun tap(word: String) {
        val ic = currentInputConnection ?: return
        if (word.isEmpty()) return
        val before = before()
        val after = ic.getTextAfterCursor(MAX_CONTEXT, 0)?.toString() ?: ""
        val (head, tail) = helper.acceptAt(before, after, word)  // tail is always a suffix of after
        val keep = before.commonPrefixWith(head).length
        ic.beginBatchEdit()
        ic.deleteSurroundingText(before.length - keep, after.length - tail.length)
        ic.commitText(head.substring(keep), 1)
        ic.endBatchEdit()
        refresh()
    }

    private fun refresh() {
        if (!::chips.isInitialized) return  // selection updates come before the keyboard is first shown
        if (suggestionsOff) {
            chips.forEach { it.text = "" }
            return
        }
        val typed = before()
        helper.suggest("keyboard", typed) { r ->
            if (r.text != before()) return@suggest
            chips.forEachIndexed { i, c -> c.text = r.words.getOrElse(i) { "" } }
        }
    }

    /** Password fields and fields that ask for no suggestions. */
    private fun noSuggestions(inputType: Int): Boolean {
        val cls = inputType and InputType.TYPE_MASK_CLASS
        val variation = inputType and InputType.TYPE_MASK_VARIATION
        return when (cls) {
            InputType.TYPE_CLASS_TEXT -> variation == InputType.TYPE_TEXT_VARIATION_PASSWORD ||
                variation == InputType.TYPE_TEXT_VARIATION_VISIBLE_PASSWORD ||
                variation == InputType.TYPE_TEXT_VARIATION_WEB_PASSWORD ||
                inputType and InputType.TYPE_TEXT_FLAG_NO_SUGGESTIONS != 0
            InputType.TYPE_CLASS_NUMBER -> variation == InputType.TYPE_NUMBER_VARIATION_PASSWORD
            else -> true  // phone numbers, dates: nothing to predict
        }
    }

    companion object {
        private const val MAX_CONTEXT = 4000  // characters before the cursor: the history's last ~500 words
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
