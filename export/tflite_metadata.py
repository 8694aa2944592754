"""The standard TFLite Support metadata (`TFLITE_METADATA`), written and read without tflite-support.

tflite-support 0.4.4 pins protobuf<4 and cannot be installed beside TF 2.21, so this module builds
the `ModelMetadata` flatbuffer itself with `flatbuffers.Builder`, following
`tensorflow_lite_support/metadata/metadata_schema.fbs` (file identifier `M001`). Field slots used:

    ModelMetadata     name 0, description 1, version 2, subgraph_metadata 3, author 4,
                      (license 5 left empty), associated_files 6, min_parser_version 7
    SubGraphMetadata  name 0, description 1, input_tensor_metadata 2, output_tensor_metadata 3
    TensorMetadata    name 0, description 1
    AssociatedFile    name 0, description 1, type 2 (byte enum; VOCABULARY = 5)

One `SubGraphMetadata` describes subgraph 0 with one `TensorMetadata` per input and output, which
is what tflite-support's `MetadataPopulator` validates.
"""

from __future__ import annotations

import flatbuffers

WEIGHTS = {"none": "float32", "dynamic": "int8", "float16": "float16"}  # --quantize -> the weights written

METADATA_PARSER_VERSION = "1.0.1"  # first metadata schema version with AssociatedFileType.VOCABULARY
_VOCABULARY = 5  # AssociatedFileType.VOCABULARY
_FILE_TYPES = {0: "UNKNOWN", 1: "DESCRIPTIONS", 2: "TENSOR_AXIS_LABELS", 3: "TENSOR_VALUE_LABELS",
               4: "TENSOR_AXIS_SCORE_CALIBRATION", 5: "VOCABULARY"}


def model_metadata_flatbuffer(meta: dict, subgraph_io, vocab_file: str) -> bytes:
    """A `ModelMetadata` table (metadata_schema.fbs) built field by field."""
    b = flatbuffers.Builder(1024)
    m = meta["model"]

    def table(fields):  # fields: list of (slot, kind, value); strings/offsets created beforehand
        b.StartObject(max(slot for slot, _, _ in fields) + 1)
        for slot, kind, value in fields:
            if kind == "offset":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            else:  # byte enum
                b.PrependInt8Slot(slot, value, 0)
        return b.EndObject()

    def vector(offsets):
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def tensor(name):  # TensorMetadata: name(0), description(1)
        return table([(0, "offset", b.CreateString(name)), (1, "offset", b.CreateString(_TENSOR_DOC.get(name, "")))])

    sg_name, inputs, outputs = subgraph_io
    in_vec, out_vec = vector([tensor(n) for n in inputs]), vector([tensor(n) for n in outputs])
    sg_desc = b.CreateString(
        f"Subgraph 0 is signature '{sg_name}'. All signatures: {', '.join(meta['export']['signatures'])}; "
        f"state (L, 2, H) = {meta['export']['state_shape']}. See LIGHTRNN_METADATA for the full description.")
    # SubGraphMetadata: name(0), description(1), input_tensor_metadata(2), output_tensor_metadata(3)
    subgraph = table([(0, "offset", b.CreateString(sg_name)), (1, "offset", sg_desc),
                      (2, "offset", in_vec), (3, "offset", out_vec)])
    # AssociatedFile: name(0), description(1), type(2)
    vocab_entry = table([(0, "offset", b.CreateString(vocab_file)),
                         (1, "offset", b.CreateString("Vocabulary: one word a line, line i is word id i "
                                                      "(0 <unk>, 1 <eos>).")),
                         (2, "byte", _VOCABULARY)])
    description = (
        f"LightRNN language model (Li et al., NIPS 2016): |V| = {m['vocab_size']} words in a "
        f"{m['rows']}x{m['cols']} table, {m['num_layers']} LSTM layer(s) of {m['hidden_dim']} units, "
        f"{WEIGHTS.get(meta['export']['quantization'], meta['export']['quantization'])} weights. Signatures feed/score/top_k/expand carry the "
        f"recurrent state explicitly; top_k is exact over the whole vocabulary (see LIGHTRNN_METADATA).")
    # ModelMetadata: name(0), description(1), version(2), subgraph_metadata(3), author(4),
    # license(5, left empty), associated_files(6), min_parser_version(7)
    fields = [(0, "offset", b.CreateString("LightRNN next-word model")),
              (1, "offset", b.CreateString(description)),
              (2, "offset", b.CreateString(meta["library_version"])),
              (3, "offset", vector([subgraph])),
              (4, "offset", b.CreateString("lightrnn_tf")),
              (6, "offset", vector([vocab_entry])),
              (7, "offset", b.CreateString(METADATA_PARSER_VERSION))]
    b.Finish(table(fields), file_identifier=b"M001")
    return bytes(b.Output())


_TENSOR_DOC = {
    "word": "int32 (1,): word id (0 <unk>, 1 <eos>)",
    "state": "float32 (L, 2, H): LSTM state after the last word read; [i, 0] = h, [i, 1] = c of layer i",
    "rows": "int32 (M,): table rows to expand",
    "log_prob": "float32 (1,): log P(word | incoming state)",
    "words": "int32: word ids of the cells (-1 = empty cell)",
    "log_probs": "float32: log-probabilities of those words",
    "bound": "float32 (1,): row score of the best unexpanded row; result exact if log_probs[k-1] >= bound",
    "row_order": "int32 (R,): rows by decreasing row log-probability",
    "row_log_probs": "float32 (R,): sorted row log-probabilities",
}


def parse_model_metadata(raw: bytes) -> dict:
    """A `ModelMetadata` flatbuffer -> dict of the fields this module writes."""
    if not flatbuffers.util.BufferHasIdentifier(raw, 0, b"M001"):
        raise ValueError("TFLITE_METADATA lacks the M001 identifier")
    root = flatbuffers.table.Table(bytearray(raw), flatbuffers.encode.Get(flatbuffers.packer.uoffset, raw, 0))
    sgs = _tables(root, 3)
    return {
        "name": _string(root, 0), "description": _string(root, 1), "version": _string(root, 2),
        "author": _string(root, 4), "license": _string(root, 5), "min_parser_version": _string(root, 7),
        "subgraph_metadata": [{
            "name": _string(sg, 0), "description": _string(sg, 1),
            "inputs": [{"name": _string(t, 0), "description": _string(t, 1)} for t in _tables(sg, 2)],
            "outputs": [{"name": _string(t, 0), "description": _string(t, 1)} for t in _tables(sg, 3)],
        } for sg in sgs],
        "associated_files": [{"name": _string(f, 0), "description": _string(f, 1),
                              "type": _FILE_TYPES.get(_byte(f, 2), str(_byte(f, 2)))} for f in _tables(root, 6)],
    }


def _string(tab, slot):
    o = tab.Offset(4 + 2 * slot)
    return tab.String(o + tab.Pos).decode("utf-8") if o else None


def _byte(tab, slot):
    o = tab.Offset(4 + 2 * slot)
    return tab.Get(flatbuffers.number_types.Int8Flags, o + tab.Pos) if o else 0


def _tables(tab, slot):
    o = tab.Offset(4 + 2 * slot)
    if not o:
        return []
    start = tab.Vector(o)
    return [flatbuffers.table.Table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(tab.VectorLen(o))]
