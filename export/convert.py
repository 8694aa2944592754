"""Converts a LightRNN run directory (or model) to a `.tflite` file with metadata.

    from export.convert import export_run
    export_run("runs/ptb", "ptb.tflite", quantize="dynamic", max_k=10)

Steps: build the single-step signatures (`export.graph`), save them as a SavedModel, convert with
builtin TFLite ops only (no Flex, no custom ops), optionally quantize, check that the operator list
is builtin-only, then write the metadata (`export.metadata`) into the flatbuffer.

Quantization modes:
    none      float32 weights.
    dynamic   dynamic-range int8: weights stored as int8 with per-channel scales; activations
              stay float32 (hybrid kernels). The folded input projections (`export.graph`) are
              quantized here, per column, rather than by the converter (one scale per table).
    float16   weights stored as float16 and dequantized to float32 once at load time.
"""

from __future__ import annotations

import os
import tempfile

from export import metadata as metadata_lib
from lightrnn_tf.errors import LightRNNError, disk_full

QUANTIZE_MODES = ("none", "dynamic", "float16")
DEFAULT_MAX_K = 10
DEFAULT_EXPAND_ROWS = 16


def check_quantize(mode: str) -> str:
    if mode not in QUANTIZE_MODES:
        raise LightRNNError(f"unknown quantization mode {mode!r}; expected one of: {', '.join(QUANTIZE_MODES)}")
    return mode


def check_max_k(max_k, vocab_size: int) -> int:
    if not isinstance(max_k, int) or not 1 <= max_k <= vocab_size:
        raise LightRNNError(f"Received an invalid value for `max_k`, expected 1 <= max_k <= {vocab_size} "
                            f"(the vocabulary size), got {max_k}.")
    return max_k


def convert_module(module, signature_keys, quantize: str = "none") -> bytes:
    """SavedModel round trip of a `tf.Module` with `signatures()` -> TFLite flatbuffer bytes."""
    import tensorflow as tf

    check_quantize(quantize)
    with tempfile.TemporaryDirectory(prefix="lightrnn_export_") as tmp:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=list(signature_keys))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = False
        if quantize in ("dynamic", "float16"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            flatbuffer = converter.convert()
        except Exception as e:  # the converter's errors are pages long
            raise LightRNNError(f"TFLite conversion failed: {str(e).strip().splitlines()[0]}") from None
    missing = set(signature_keys) - set(metadata_lib.signature_names(flatbuffer))
    if missing:
        raise LightRNNError(f"TFLite conversion lost the signatures {sorted(missing)}")
    foreign = [op for op in metadata_lib.operator_names(flatbuffer) if not metadata_lib.is_builtin(op)]
    if foreign:
        raise LightRNNError(f"the converted model needs non-builtin ops: {foreign}")
    return flatbuffer


def convert_model(model, quantize: str = "none", max_k: int = DEFAULT_MAX_K,
                  expand_rows: int = DEFAULT_EXPAND_ROWS, fold_inputs: bool | None = None) -> tuple[bytes, dict]:
    """A `LightRNNModel` -> `(flatbuffer bytes without metadata, export settings)`.

    See `export.graph.LightRNNSignatures` for `max_k`, `expand_rows` and `fold_inputs`.
    """
    from export.graph import SIGNATURES, LightRNNSignatures

    check_quantize(quantize)
    check_max_k(max_k, model.vocab_size)
    if not isinstance(expand_rows, int) or expand_rows < 1:
        raise LightRNNError(
            f"Received an invalid value for `expand_rows`, expected a positive integer, got {expand_rows}.")
    try:
        module = LightRNNSignatures(model, max_k=max_k, expand_rows=expand_rows, fold_inputs=fold_inputs,
                                    int8_tables=quantize == "dynamic")
    except ValueError as e:
        raise LightRNNError(str(e)) from None
    flatbuffer = convert_module(module, SIGNATURES, quantize)
    settings = {"quantization": quantize, "max_k": module.max_k, "expand_rows": module.expand_rows,
                "fold_inputs": module.fold_inputs, "int8_tables": module.int8_tables,
                "state_shape": [module.num_layers, 2, module.hidden_dim],
                "signatures": list(SIGNATURES)}
    return flatbuffer, settings


def export_model(model, vocab, tokenizer, out: str, quantize: str = "none", max_k: int = DEFAULT_MAX_K,
                 expand_rows: int = DEFAULT_EXPAND_ROWS, fold_inputs: bool | None = None) -> dict:
    """Exports a model trained in your own Keras code, with the `Vocabulary` and `Tokenizer` its
    text was encoded with, to `out`; returns the metadata. The same file as `save_run` followed by
    `export_run` (which it does, in a temporary directory).

    Example:

    >>> export_model(model, vocab, Tokenizer(lowercase=True), "mine.tflite", quantize="dynamic")
    """
    import tempfile

    from lightrnn_tf.rundir import save_run

    check_quantize(quantize)
    with tempfile.TemporaryDirectory() as run_dir:
        save_run(run_dir, model=model, vocab=vocab, tokenizer=tokenizer)
        return export_run(run_dir, out, quantize, max_k, expand_rows, fold_inputs)


def export_run(run_dir: str, out: str, quantize: str = "none", max_k: int = DEFAULT_MAX_K,
               expand_rows: int = DEFAULT_EXPAND_ROWS, fold_inputs: bool | None = None) -> dict:
    """Exports RUN/model.keras with its vocabulary and settings to `out`; returns the metadata.

    A LightRNN run gives the signatures of `export.graph`. A run of a baseline (`--model
    full_softmax` or `sampled_softmax`, both scored with the full softmax) gives the full-softmax
    LSTM of `export.baseline_keyboard` (`expand_rows` and `fold_inputs` do not apply), which
    `export.evaluate` runs beside LightRNN; the web and Android apps run LightRNN exports only.
    """
    from lightrnn_tf.baselines import FullSoftmaxLSTM
    from lightrnn_tf.rundir import load_run

    check_quantize(quantize)
    run = load_run(run_dir)
    if isinstance(run.model, FullSoftmaxLSTM):
        from export.baseline_keyboard import build_baseline

        check_max_k(max_k, run.model.vocab_size)
        data, meta = build_baseline(run.model, run.vocab.words, run.tokenizer.to_dict(), quantize, max_k)
    else:
        flatbuffer, settings = convert_model(run.model, quantize, max_k, expand_rows, fold_inputs)
        meta = metadata_lib.build_metadata(run, settings)
        data = metadata_lib.write_metadata(flatbuffer, meta)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        reason = "disk full" if disk_full(e) else (e.strerror or str(e))
        raise LightRNNError(f"could not write {out} ({reason}); nothing was replaced") from None
    return meta
