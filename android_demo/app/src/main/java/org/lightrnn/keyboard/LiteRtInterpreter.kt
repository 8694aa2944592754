package org.lightrnn.keyboard

import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.lightrnn.keyboard.engine.ModelInterpreter
import org.tensorflow.lite.Interpreter

/**
 * The engine's [ModelInterpreter] over LiteRT's Interpreter: one `runSignature` call per engine
 * call, inputs and outputs as native-order direct buffers sized from the model's own tensors.
 * The only class that touches LiteRT (thin on purpose: the loops are in the plain-Java engine).
 */
class LiteRtInterpreter(model: ByteBuffer, threads: Int = 1) : ModelInterpreter, AutoCloseable {
    private val interpreter = Interpreter(model, Interpreter.Options().setNumThreads(threads))

    init {
        val missing = listOf("feed", "top_k", "expand") - interpreter.signatureKeys.toSet()
        require(missing.isEmpty()) { "the model lacks the signature(s) $missing; re-export it with python -m export" }
    }

    private fun floats(values: FloatArray): ByteBuffer =
        ByteBuffer.allocateDirect(4 * values.size).order(ByteOrder.nativeOrder()).apply {
            asFloatBuffer().put(values)
        }

    private fun ints(values: IntArray): ByteBuffer =
        ByteBuffer.allocateDirect(4 * values.size).order(ByteOrder.nativeOrder()).apply {
            asIntBuffer().put(values)
        }

    private fun run(signature: String, inputs: Map<String, Any>, outputs: List<String>): Map<String, ByteBuffer> {
        val out = outputs.associateWith { name ->
            val bytes = interpreter.getOutputTensorFromSignature(name, signature).numBytes()
            ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())
        }
        interpreter.runSignature(inputs, out, signature)
        out.values.forEach { it.rewind() }
        return out
    }

    private fun ByteBuffer.toFloats() = FloatArray(capacity() / 4).also { asFloatBuffer().get(it) }
    private fun ByteBuffer.toInts() = IntArray(capacity() / 4).also { asIntBuffer().get(it) }

    override fun feed(word: Int, state: FloatArray): FloatArray =
        run("feed", mapOf("word" to ints(intArrayOf(word)), "state" to floats(state)), listOf("state"))
            .getValue("state").toFloats()

    override fun topK(state: FloatArray): ModelInterpreter.TopK {
        val o = run("top_k", mapOf("state" to floats(state)), listOf("words", "log_probs", "row_order", "row_log_probs"))
        return ModelInterpreter.TopK(
            o.getValue("words").toInts(), o.getValue("log_probs").toFloats(),
            o.getValue("row_order").toInts(), o.getValue("row_log_probs").toFloats()
        )
    }

    override fun expand(state: FloatArray, rows: IntArray): ModelInterpreter.Expanded {
        val o = run("expand", mapOf("state" to floats(state), "rows" to ints(rows)), listOf("words", "log_probs"))
        return ModelInterpreter.Expanded(o.getValue("words").toInts(), o.getValue("log_probs").toFloats())
    }

    override fun close() = interpreter.close()
}
