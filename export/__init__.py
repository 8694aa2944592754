"""TFLite export of LightRNN models and an on-device next-word predictor.

    python -m export --run RUN_DIR --out model.tflite [--quantize none|dynamic|float16] [--max-k N]
    python -m export.inspect model.tflite

`export.convert` (needs TensorFlow) writes the file; `export.predictor.NextWordPredictor` and
`export.metadata` read it with `ai_edge_litert` + NumPy only. Importing this package imports
neither TensorFlow nor the training code.
"""
