package org.lightrnn.keyboard

import android.inputmethodservice.InputMethodService
import android.text.InputType
import android.view.KeyEvent
import android.view.View
import android.view.inputmethod.EditorInfo
import android.widget.Button
import android.widget.LinearLayout
import org.lightrnn.keyboard.engine.KeyLayout

/**
 * An input method: a QWERTY with Shift and a digits-and-symbols page (the engine's `KeyLayout`)
 * under the same suggestion strip as the Activity, fed by the same engine. Suggestions follow the
 * text before the cursor of whatever field is being edited.
 */
class KeyboardService : InputMethodService() {
    private lateinit var helper: SuggestionHelper
    private lateinit var chips: List<Button>
    private lateinit var keys: LinearLayout
    private val keyLayout = KeyLayout()  // not `layout`: inside a Button's `apply` that is its text layout
    private val buttons = mutableListOf<Pair<String, Button>>()  // the keys shown, for relabelling
    private var suggestionsOff = false  // a password or no-suggestions field: read nothing, suggest nothing
    private var inputType = -1  // the field's, when the keys were set up for it
    private var cursor = -1  // the selection start the editor last reported (a field never read has only this)
    private var requests = 0  // suggestion requests made (main thread): only the latest one's result is shown

    override fun onCreate() {
        super.onCreate()
        helper = SuggestionHelper.get(this)
        helper.whenReady { refresh() }  // a field opened while the model loads gets its chips once it is loaded
    }

    override fun onCreateInputView(): View {
        val root = layoutInflater.inflate(R.layout.keyboard_view, null)
        chips = listOf(R.id.chip0, R.id.chip1, R.id.chip2).map { root.findViewById<Button>(it) }
        chips.forEach { chip -> chip.setOnClickListener { tap(chip.text.toString()) } }
        keys = root.findViewById(R.id.keys)
        drawKeys()
        return root
    }

    /** The keys of the page shown (`KeyLayout.rows`), built again when the page changes. */
    private fun drawKeys() {
        if (!::keys.isInitialized) return
        keys.removeAllViews()
        buttons.clear()
        for (row in keyLayout.rows()) {
            val line = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
            for (key in row) {
                val button = Button(this).apply {
                    text = keyLayout.label(key)
                    isAllCaps = false
                    setOnClickListener { press(key) }
                }
                buttons.add(key to button)
                val weight = if (key == KeyLayout.SPACE) 5f else 1f
                line.addView(button, LinearLayout.LayoutParams(0, LinearLayout.LayoutParams.WRAP_CONTENT, weight))
            }
            keys.addView(line)
        }
    }

    /** Shift changed: the letters show it. */
    private fun relabel() = buttons.forEach { (key, button) -> button.text = keyLayout.label(key) }

    /** Every field this keyboard is bound to, shown or not: a password field is never read. */
    override fun onStartInput(attribute: EditorInfo?, restarting: Boolean) {
        super.onStartInput(attribute, restarting)
        val type = attribute?.inputType ?: 0
        suggestionsOff = noSuggestions(type)
        val cls = type and InputType.TYPE_MASK_CLASS
        if (restarting && type == inputType) return  // the same field again: keep the page and caps lock
        inputType = type
        keyLayout.startInput(
            cls == InputType.TYPE_CLASS_NUMBER || cls == InputType.TYPE_CLASS_PHONE || cls == InputType.TYPE_CLASS_DATETIME,
            cls == InputType.TYPE_CLASS_TEXT && type and InputType.TYPE_TEXT_FLAG_CAP_SENTENCES != 0
        )
    }

    override fun onStartInputView(info: EditorInfo?, restarting: Boolean) {
        super.onStartInputView(info, restarting)  // onStartInput has already read the field type
        cursor = info?.initialSelStart ?: -1
        if (suggestionsOff) keyLayout.capsModeChanged(cursor, capsMode()) else keyLayout.textChanged(before())
        drawKeys()  // the page this field opens on, Shift as its text needs
        refresh()
    }

    /** The cursor moved, or the app changed the text: suggest for the new place. */
    override fun onUpdateSelection(oldSelStart: Int, oldSelEnd: Int, newSelStart: Int, newSelEnd: Int,
                                   candidatesStart: Int, candidatesEnd: Int) {
        super.onUpdateSelection(oldSelStart, oldSelEnd, newSelStart, newSelEnd, candidatesStart, candidatesEnd)
        cursor = newSelStart
        refresh()
    }

    private fun before(): String =
        currentInputConnection?.getTextBeforeCursor(MAX_CONTEXT, 0)?.toString() ?: ""

    /** Whether a sentence starts at the cursor, as the editor says without the text being read. */
    private fun capsMode(): Boolean =
        (currentInputConnection?.getCursorCapsMode(InputType.TYPE_TEXT_FLAG_CAP_SENTENCES) ?: 0) != 0

    private fun press(key: String) {
        val ic = currentInputConnection ?: return
        val action = keyLayout.press(key)
        when (action.kind) {
            KeyLayout.Action.Kind.COMMIT -> ic.commitText(action.text, 1)
            KeyLayout.Action.Kind.DELETE -> sendDownUpKeyEvents(KeyEvent.KEYCODE_DEL)  // a selection, or a whole emoji
            KeyLayout.Action.Kind.ENTER -> enter()
            KeyLayout.Action.Kind.REDRAW -> {}
        }
        if (key == KeyLayout.TO_SYMBOLS || key == KeyLayout.TO_LETTERS) drawKeys() else relabel()
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
        keyLayout.suggestionTapped()  // the chip showed the word as Shift makes it
        relabel()
        val keep = before.commonPrefixWith(head).length
        ic.beginBatchEdit()
        ic.deleteSurroundingText(before.length - keep, after.length - tail.length)
        ic.commitText(head.substring(keep), 1)
        ic.endBatchEdit()
        refresh()
    }

    private fun refresh() {
        if (!::chips.isInitialized) return  // selection updates come before the keyboard is first shown
        if (suggestionsOff) {  // never read: no suggestions; the capital at a sentence start from the editor
            chips.forEach { it.text = "" }
            if (keyLayout.capsModeChanged(cursor, capsMode())) relabel()
            return
        }
        val typed = before()
        if (keyLayout.textChanged(typed)) relabel()  // a sentence start: Shift on by itself, or off again
        val request = ++requests
        helper.suggest("keyboard", typed) { r ->
            // a newer request (the text or cursor changed since) shows its own; no second read of
            // the text, which costs an IPC round trip to the editor
            if (request != requests) return@suggest
            chips.forEachIndexed { i, c -> c.text = keyLayout.applyShift(r.words.getOrElse(i) { "" }) }
        }
    }

    /** Password fields, fields that ask for no suggestions, and fields of numbers, phone numbers or dates (no words to predict). */
    private fun noSuggestions(inputType: Int): Boolean {
        val variation = inputType and InputType.TYPE_MASK_VARIATION
        return inputType and InputType.TYPE_MASK_CLASS != InputType.TYPE_CLASS_TEXT ||
            variation == InputType.TYPE_TEXT_VARIATION_PASSWORD ||
            variation == InputType.TYPE_TEXT_VARIATION_VISIBLE_PASSWORD ||
            variation == InputType.TYPE_TEXT_VARIATION_WEB_PASSWORD ||
            inputType and InputType.TYPE_TEXT_FLAG_NO_SUGGESTIONS != 0
    }

    companion object {
        private const val MAX_CONTEXT = 4000  // characters before the cursor: the history's last ~500 words
    }
}
