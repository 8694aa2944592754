package org.lightrnn.keyboard

import android.os.Bundle
import android.text.Editable
import android.text.TextWatcher
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity

/** A text field and a suggestion strip that updates on every keystroke; a tap inserts the word. */
class MainActivity : AppCompatActivity() {
    private lateinit var text: EditText
    private lateinit var chips: List<Button>
    private lateinit var helper: SuggestionHelper
    private val latencies = ArrayList<Double>()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        text = findViewById(R.id.text)
        chips = listOf(R.id.chip0, R.id.chip1, R.id.chip2).map { findViewById<Button>(it) }
        helper = SuggestionHelper.get(this)
        helper.whenReady {
            val meta = helper.meta
            findViewById<TextView>(R.id.status).text = if (meta == null) helper.loadError ?: "no model" else
                "Model: %.2f MB, |V| = %d, %s weights".format(helper.modelBytes / 1e6, meta.vocab.size, meta.quantization)
            refresh()
        }
        text.addTextChangedListener(object : TextWatcher {
            override fun beforeTextChanged(s: CharSequence?, start: Int, count: Int, after: Int) = Unit
            override fun onTextChanged(s: CharSequence?, start: Int, before: Int, count: Int) = Unit
            override fun afterTextChanged(s: Editable?) = refresh()
        })
        chips.forEach { chip ->
            chip.setOnClickListener {
                val word = chip.text.toString()
                if (word.isEmpty()) return@setOnClickListener
                val cursor = text.selectionStart.coerceAtLeast(0)
                val end = text.selectionEnd.coerceAtLeast(cursor)
                val all = text.text.toString()
                val (head, tail) = helper.acceptAt(all.substring(0, cursor), all.substring(end), word)
                text.setText(head + tail)  // its own refresh sees the cursor at 0 and is dropped as stale
                text.setSelection(head.length)
                refresh()
            }
        }
    }

    private fun before(): String = text.text.substring(0, text.selectionStart.coerceAtLeast(0))

    private fun refresh() {
        helper.suggest("activity", before()) { r ->
            if (r.text != before()) return@suggest  // stale: a newer keystroke is on its way
            chips.forEachIndexed { i, c -> c.text = r.words.getOrElse(i) { "" } }
            latencies.add(r.millis)
            val p50 = latencies.sorted()[(latencies.size - 1) / 2]
            findViewById<TextView>(R.id.facts).text =
                "latency %.2f ms (p50 %.2f ms over %d keys)".format(r.millis, p50, latencies.size)
        }
    }
}
