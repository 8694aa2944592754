"""Metadata inside a LightRNN `.tflite` file: what it holds, how it is written and read.

A `.tflite` file written by `python -m export` carries, in standard TFLite places:

1. `Model.metadata["TFLITE_METADATA"]`: a TFLite Support `ModelMetadata` flatbuffer (file
   identifier `M001`, schema `tensorflow_lite_support/metadata/metadata_schema.fbs` 1.0.1): name,
   description, version, author, license, one `SubGraphMetadata` for subgraph 0, and the list of
   associated files. tflite-support cannot be installed beside TF 2.21, so this module builds that
   flatbuffer itself (`export.tflite_metadata`).
2. `Model.metadata["LIGHTRNN_METADATA"]`: UTF-8 JSON, everything the predictor needs except the
   word list (see `build_metadata` for the keys): library version, model config, tokenizer rules,
   special-token ids, table shape and allocation, export settings (quantization, `max_k`,
   `expand_rows`, `fold_inputs`, `int8_tables`, state shape, signatures).
3. A zip archive appended to the flatbuffer (the layout of tflite-support's `MetadataPopulator`;
   interpreters ignore trailing bytes) holding the associated file `vocab.txt`: one word a line,
   in id order (id 0 `<unk>`, id 1 `<eos>`), the `VOCABULARY` convention.

`read_metadata(path)` returns the JSON as a dict with `vocab` (list of words) added. This module
imports neither TensorFlow nor training code; it needs `flatbuffers`, `numpy` and the TFLite
schema that `ai_edge_litert` ships (`schema_py_generated`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import zipfile

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as _fb

from export.tflite_metadata import model_metadata_flatbuffer, parse_model_metadata
from lightrnn_tf.errors import LightRNNError

TFLITE_METADATA = "TFLITE_METADATA"
LIGHTRNN_METADATA = "LIGHTRNN_METADATA"
FORMAT = "lightrnn_tf.export"
FORMAT_VERSION = 1
VOCAB_FILE = "vocab.txt"
_ALIGN = 16  # TFLite writes its weight buffers 16-byte aligned; keep them so
_OP_NAMES = {v: k for k, v in vars(_fb.BuiltinOperator).items() if not k.startswith("_")}


# === What goes in ===

def build_metadata(run, export_settings: dict) -> dict:
    """The `LIGHTRNN_METADATA` dict (plus `vocab`) of a loaded run (`lightrnn_tf.rundir.Run`)."""
    import dataclasses

    from lightrnn_tf import __version__
    from lightrnn_tf.data import EOS, UNK

    table = run.model.get_table()
    model_cfg = dataclasses.asdict(run.model_config)
    model_cfg.update(vocab_size=len(run.vocab), rows=table.rows, cols=table.cols)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library": "lightrnn_tf",
        "library_version": __version__,
        "model": model_cfg,
        "tokenizer": {
            **run.tokenizer.to_dict(),  # the rules the run was trained with
            "rules": "characters in space_chars -> ' ', those in remove_chars removed (rules 4 on); "
                     "lowercase (if set), then: split_punct ? re.findall(split_punct_pattern) : str.split(); "
                     "each token in Unicode normal form `normalization`; unknown words -> <unk>; "
                     "<eos> after every non-blank line (a blank line, `not line.strip()`, adds nothing)",
        },
        "special_tokens": {UNK: run.vocab.unk_id, EOS: run.vocab.eos_id},
        "table": encode_allocation(table.word_row, table.word_col, table.rows, table.cols),
        "export": dict(export_settings),
        "vocab_file": VOCAB_FILE,
        "vocab": list(run.vocab.words),
    }


def encode_allocation(word_row, word_col, rows: int, cols: int) -> dict:
    """`{rows, cols, encoding, word_cell}`: word w sits in cell `word_cell[w] = r * C + c`."""
    cells = np.asarray(word_row, np.int64) * cols + np.asarray(word_col, np.int64)
    dtype = "<i2" if rows * cols <= np.iinfo(np.int16).max else "<i4"
    return {"rows": int(rows), "cols": int(cols), "encoding": f"base64 little-endian {dtype} word_cell",
            "dtype": dtype, "word_cell": base64.b64encode(cells.astype(dtype).tobytes()).decode("ascii")}


def decode_allocation(table: dict) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `encode_allocation` -> `(word_row (V,), word_col (V,))` int32."""
    cells = np.frombuffer(base64.b64decode(table["word_cell"]), dtype=table["dtype"]).astype(np.int32)
    return cells // table["cols"], cells % table["cols"]


# === Writing ===

def write_metadata(flatbuffer: bytes, meta: dict) -> bytes:
    """Returns `flatbuffer` with both metadata entries set and `vocab.txt` appended as a zip."""
    meta = dict(meta)
    words = meta.pop("vocab")
    vocab_text = "".join(w + "\n" for w in words).encode("utf-8")
    meta["vocab_sha256"] = hashlib.sha256(vocab_text).hexdigest()  # ties the appended vocab.txt to this model
    model = _fb.ModelT.InitFromObj(_fb.Model.GetRootAs(flatbuffer, 0))
    entries = {
        TFLITE_METADATA: model_metadata_flatbuffer(meta, _subgraph_io(flatbuffer), VOCAB_FILE),
        LIGHTRNN_METADATA: json.dumps(meta, indent=1, sort_keys=True).encode("utf-8"),
    }
    model.metadata = model.metadata or []
    existing = {m.name.decode(): m for m in model.metadata}
    for name, data in entries.items():
        buf = _fb.BufferT()
        buf.data = np.frombuffer(data, dtype=np.uint8)
        if name in existing:  # rewriting an exported file: replace the entry's buffer in place
            model.buffers[existing[name].buffer] = buf
            continue
        model.buffers.append(buf)
        entry = _fb.MetadataT()
        entry.name, entry.buffer = name, len(model.buffers) - 1
        model.metadata.append(entry)
    for i, buf in enumerate(model.buffers):
        model.buffers[i] = _AlignedBufferT(buf)
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = io.BytesIO()
    out.write(bytes(builder.Output()))  # a previously appended zip is dropped with the old bytes
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(VOCAB_FILE, vocab_text)
    return out.getvalue()


class _AlignedBufferT(_fb.BufferT):
    """A `BufferT` whose data vector is packed `_ALIGN`-byte aligned (the generated code uses 1)."""

    def __init__(self, other):
        super().__init__(other.data, other.offset, other.size)

    def Pack(self, builder):
        data = None
        if self.data is not None and len(self.data):
            raw = np.asarray(self.data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(raw), _ALIGN)
            builder.head -= len(raw)
            builder.Bytes[builder.head : builder.head + len(raw)] = raw
            builder.vectorNumElems = len(raw)
            data = builder.EndVector()
        _fb.BufferStart(builder)
        if data is not None:
            _fb.BufferAddData(builder, data)
        _fb.BufferAddOffset(builder, self.offset)
        _fb.BufferAddSize(builder, self.size)
        return _fb.BufferEnd(builder)


def _subgraph_io(flatbuffer: bytes):
    """Names of subgraph 0's input and output tensors (what its SubGraphMetadata describes): the
    names its signature gives them ("words", "log_probs"), else the tensors' own."""
    model = _fb.Model.GetRootAs(flatbuffer, 0)
    sg = model.Subgraphs(0)
    signature_names = {}
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        if sig.SubgraphIndex() == 0:
            for entry in [sig.Inputs(j) for j in range(sig.InputsLength())] + \
                         [sig.Outputs(j) for j in range(sig.OutputsLength())]:
                signature_names[entry.TensorIndex()] = entry.Name().decode()
    names = lambda ids: [signature_names.get(int(i)) or sg.Tensors(int(i)).Name().decode() for i in ids]  # noqa: E731
    return (sg.Name() or b"").decode(), names(sg.InputsAsNumpy()), names(sg.OutputsAsNumpy())


# === Reading ===

def _as_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        with open(source, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise LightRNNError(f"model file not found: {source}") from None
    except IsADirectoryError:
        raise LightRNNError(f"expected a .tflite file, got a directory: {source}") from None


def _model(data: bytes, name: str):
    if len(data) < 8 or not _fb.Model.ModelBufferHasIdentifier(data, 0):
        raise LightRNNError(f"{name} is not a TFLite model (no TFL3 identifier)")
    return _fb.Model.GetRootAs(data, 0)


def metadata_entries(source, name: str | None = None) -> dict:
    """`{name: bytes}` of every `Model.metadata` entry. `name`: the file's name in errors."""
    data = _as_bytes(source)
    name = name or _name(source)
    model = _model(data, name)
    out = {}
    try:
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            out[entry.Name().decode()] = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    except (struct.error, IndexError, ValueError, UnicodeDecodeError, AttributeError):
        raise LightRNNError(f"{name} is truncated or corrupt (its TFLite structure cannot be read)") from None
    return out


def read_metadata(source) -> dict:
    """The `LIGHTRNN_METADATA` dict of a `.tflite` path or bytes, with `vocab` read from the zip."""
    data = _as_bytes(source)
    name = _name(source)
    _model(data, name)  # a clear error for files that are not TFLite models
    raw = metadata_entries(data, name).get(LIGHTRNN_METADATA)
    if raw is None:
        raise LightRNNError(f"{name} has no LightRNN metadata (was it written by `python -m export`?)")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise LightRNNError(f"{name}: LightRNN metadata is corrupt ({e})") from None
    if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
        raise LightRNNError(f"{name}: unsupported metadata format {meta.get('format')!r} "
                            f"version {meta.get('format_version')!r} (this reader knows {FORMAT} {FORMAT_VERSION})")
    files = associated_files(data)
    vocab_file = meta.get("vocab_file", VOCAB_FILE)
    if vocab_file not in files:
        if _zip_entry_start(data, vocab_file) >= 0:  # its header is there, the zip cannot be read
            raise LightRNNError(f"{name} is truncated or corrupt: the vocabulary ({vocab_file}) appended to the model "
                                "cannot be read (an incomplete download or copy?)")
        raise LightRNNError(f"{name}: the associated file {vocab_file} is missing (the appended zip was stripped?)")
    expected = meta.pop("vocab_sha256", None)
    if expected is not None and hashlib.sha256(files[vocab_file]).hexdigest() != expected:
        raise LightRNNError(f"{name}: {vocab_file} is not the vocabulary this model was exported with "
                            f"(sha256 mismatch); re-export the model with `python -m export`")
    try:
        meta["vocab"] = files[vocab_file].decode("utf-8").split("\n")[:-1]
    except UnicodeDecodeError:
        raise LightRNNError(f"{name}: {vocab_file} is not valid UTF-8") from None
    if len(meta["vocab"]) != meta["model"]["vocab_size"]:
        raise LightRNNError(f"{name}: {vocab_file} has {len(meta['vocab'])} words, the model "
                            f"{meta['model']['vocab_size']}")
    return meta


def associated_files(source) -> dict:
    """`{name: bytes}` of the zip appended to the model (empty if there is none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(_as_bytes(source))) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    except zipfile.BadZipFile:
        return {}


def _zip_entry_start(data: bytes, file_name: str) -> int:
    """Where the local header of the zip entry `file_name` starts in `data` (the last one), or -1."""
    header = b"PK\x03\x04"
    at = data.rfind(header)
    while at >= 0:
        name_len = int.from_bytes(data[at + 26:at + 28], "little")
        if data[at + 30:at + 30 + name_len] == file_name.encode():
            return at
        at = data.rfind(header, 0, at)
    return -1


def _name(source) -> str:
    return source if isinstance(source, str) else "model"


def read_model_metadata(source) -> dict | None:
    """The `TFLITE_METADATA` ModelMetadata as a dict (None if absent)."""
    raw = metadata_entries(source).get(TFLITE_METADATA)
    if raw is None:
        return None
    try:
        return parse_model_metadata(raw)
    except ValueError as e:
        raise LightRNNError(f"{_name(source)}: {e}") from None


# === Model structure ===

def operator_names(source) -> list[str]:
    """Names of the operator codes of the model: builtin names in capitals, custom ops as given."""
    data = _as_bytes(source)
    model = _model(data, _name(source))
    out = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if oc.CustomCode():
            out.append("custom:" + oc.CustomCode().decode())
        else:
            out.append(_OP_NAMES.get(code, f"UNKNOWN_{code}"))
    return out


def is_builtin(op_name: str) -> bool:
    """True for a TFLite builtin operator name (as `operator_names` writes them)."""
    return op_name in _OP_NAMES.values() and op_name not in ("CUSTOM", "DELEGATE")


def signature_names(source) -> list[str]:
    model = _model(_as_bytes(source), _name(source))
    return [model.SignatureDefs(i).SignatureKey().decode() for i in range(model.SignatureDefsLength())]


def buffer_alignment(source) -> int:
    """The largest power of two (<= 16) that divides the file offset of every non-empty buffer."""
    data = _as_bytes(source)
    model = _model(data, _name(source))
    base = np.frombuffer(data, np.uint8).__array_interface__["data"][0]
    align = _ALIGN
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            offset = buf.DataAsNumpy().__array_interface__["data"][0] - base
            while offset % align:
                align //= 2
    return align
