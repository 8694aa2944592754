"""Print the metadata of an exported LightRNN model: `python -m export.inspect model.tflite`.

    python -m export.inspect ptb.tflite            # readable summary
    python -m export.inspect ptb.tflite --json     # the metadata as read_metadata returns it (the first 12 words only)
    python -m export.inspect ptb.tflite --vocab    # ... with the whole vocabulary

Shows the TFLite Support ModelMetadata (TFLITE_METADATA), the LightRNN metadata, the associated
files, the signatures and the operators. Needs no TensorFlow.
"""

from __future__ import annotations

import json
import os
import sys

from export import metadata as metadata_lib
from export.text import rules_version
from lightrnn_tf.errors import ArgumentParser, LightRNNError


def _short_pattern(pattern: str | None, width: int = 60) -> str:
    """The split_punct regex for a report line: its list of 2,000+ combining marks is cut."""
    text = ascii(pattern)  # combining marks printed raw would stack on their neighbours
    return text if len(text) <= width else f"{text[:width]}... ({len(pattern)} characters)"


def describe(path: str, show_vocab: bool = False) -> str:
    """The report `python -m export.inspect` prints."""
    meta = metadata_lib.read_metadata(path)
    std = metadata_lib.read_model_metadata(path) or {}
    files = metadata_lib.associated_files(path)
    m, exp, tok, table = meta["model"], meta["export"], meta["tokenizer"], meta["table"]
    vocab = meta["vocab"]
    lines = [
        f"file            {path} ({os.path.getsize(path)} bytes)",
        f"model           {std.get('name')} {std.get('version')} by {std.get('author')}",
        f"description     {std.get('description')}",
        f"library         {meta['library']} {meta['library_version']} "
        f"(metadata {meta['format']} v{meta['format_version']})",
        f"vocabulary      {m['vocab_size']} words; special ids "
        + ", ".join(f"{w} = {i}" for w, i in meta["special_tokens"].items()),
        f"first words     {' '.join(vocab[:12])}{' ...' if len(vocab) > 12 else ''}",
        f"tokenizer       rules={rules_version(tok)} lowercase={tok['lowercase']} split_punct={tok['split_punct']} "
        f"normalization={tok.get('normalization')} pattern={_short_pattern(tok['split_punct_pattern'])}",
        f"architecture    {meta.get('architecture', 'lightrnn')}"
        + (" (a full V-way softmax, its table one row of every word: python -m export.evaluate runs it, the apps do not)"
           if meta.get("architecture", "lightrnn") != "lightrnn" else ""),
        f"table           {table['rows']} x {table['cols']} ({table['rows'] * table['cols'] - m['vocab_size']} empty "
        f"cells); allocation: {table['encoding']}",
        f"network         embedding {m['embedding_dim']}, {m['num_layers']} LSTM layer(s) x {m['hidden_dim']}"
        + (f", dropout {m['dropout']}, weight drop {m.get('weight_drop', 0.0)} (training only)" if "dropout" in m else ""),
        f"export          quantization={exp['quantization']} max_k={exp['max_k']} expand_rows={exp['expand_rows']} "
        f"fold_inputs={exp.get('fold_inputs')} int8_tables={exp.get('int8_tables')} state_shape={exp['state_shape']}",
        f"signatures      {', '.join(metadata_lib.signature_names(path))}",
        f"operators       {', '.join(sorted(set(metadata_lib.operator_names(path))))}",
        f"associated      " + ", ".join(f"{f['name']} ({f['type']}, {len(files.get(f['name'], b''))} bytes)"
                                        for f in std.get("associated_files", [])),
        f"metadata parser {std.get('min_parser_version')}",
    ]
    if show_vocab:
        lines.append("vocab")
        lines.extend(f"  {i}\t{w}" for i, w in enumerate(vocab))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m export.inspect", description="Print a LightRNN .tflite's metadata.")
    p.add_argument("model", help=".tflite file written by python -m export")
    p.add_argument("--json", action="store_true",
                   help="print the metadata as export.metadata.read_metadata returns it: the LIGHTRNN_METADATA "
                        "JSON with `vocab` (from the appended vocab.txt, checked against `vocab_sha256`, which is "
                        "dropped) and `tflite_metadata` (the TFLite Support ModelMetadata) added; without --vocab, "
                        "`vocab_first_words` (the first 12 words) replaces `vocab`")
    p.add_argument("--vocab", action="store_true", help="include the whole vocabulary (with --json: as `vocab`)")
    args = p.parse_args(argv)
    try:
        if args.json:
            meta = metadata_lib.read_metadata(args.model)
            if not args.vocab:  # a key of its own: a shortened `vocab` would pass for the vocabulary
                meta["vocab_first_words"] = meta.pop("vocab")[:12]
            meta["tflite_metadata"] = metadata_lib.read_model_metadata(args.model)
            print(json.dumps(meta, indent=2, sort_keys=True))
        else:
            print(describe(args.model, args.vocab))
    except LightRNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
