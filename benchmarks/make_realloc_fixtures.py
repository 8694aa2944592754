"""Regenerates the real reallocation statistics under `tests/fixtures/` (derived numbers, no text).

    python benchmarks/make_realloc_fixtures.py            # both corpora, ~10 min on 2 cores
    python benchmarks/make_realloc_fixtures.py --corpus kjv

For each corpus a small `LightRNNModel` (E = H = 64, one LSTM layer, dropout 0, seed 1234, Adam
2e-3, B = 20, T = 35) is trained with `model.fit(stream_dataset(...))` on a slice whose
vocabulary is capped at |V| = 2000 (table 45x45, 25 empty cells; rarer words are `<unk>`):

    kjv   first 8,000 lines of ../shared/data/kjv/kjv.txt, lowercase, punctuation split
    ptb   ../shared/data/ptb/ptb.valid.txt (all 3,370 lines), as is

`realloc.loss_statistics` over the training ids is saved after epoch 1 (random table) as
`realloc_<corpus>_e1.npz`; then the words are reallocated once with the greedy solver (so the
fixture does not depend on the solver under test), two more epochs train, and the statistics
after epoch 3 are saved as `realloc_<corpus>_e3.npz`. Each file holds `row_loss (V, R)` and
`col_loss (V, C)` as float32 (rounded from the float64 accumulators), the table the statistics
were taken with (`word_row`, `word_col` `(V,)` int16, `rows`, `cols`), and `settings` (JSON).
`np.savez_compressed` keeps each file under 1 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "tests", "fixtures")
SHARED = os.environ.get("LIGHTRNN_DATA", os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data"))
CORPORA = {
    "kjv": dict(path="kjv/kjv.txt", lines=8000, lowercase=True, split_punct=True),
    "ptb": dict(path="ptb/ptb.valid.txt", lines=0, lowercase=False, split_punct=False),
}
SETTINGS = dict(vocab=2000, embedding_dim=64, hidden_dim=64, num_layers=1, dropout=0.0, seed=1234,
                learning_rate=2e-3, batch_size=20, bptt=35, later_epoch=3)


def make(corpus: str, shared: str, out_dir: str) -> None:
    import keras

    from lightrnn_tf.data import Tokenizer, Vocabulary, read_lines, stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import loss_statistics, reallocate

    spec, s = CORPORA[corpus], SETTINGS
    lines = read_lines(os.path.join(shared, spec["path"]))
    lines = lines[: spec["lines"]] if spec["lines"] else lines
    tok = Tokenizer(spec["lowercase"], spec["split_punct"])
    vocab = Vocabulary.build(tok, lines, max_size=s["vocab"])
    ids = vocab.encode_lines(lines, tok)
    keras.utils.set_random_seed(s["seed"])
    model = LightRNNModel(len(vocab), embedding_dim=s["embedding_dim"], hidden_dim=s["hidden_dim"],
                          num_layers=s["num_layers"], dropout=s["dropout"], table_seed=s["seed"])
    model.compile(optimizer=keras.optimizers.Adam(s["learning_rate"]))
    ds = stream_dataset(ids, s["batch_size"], s["bptt"])
    settings = dict(s, corpus=corpus, **spec, tokens=int(len(ids)), table=f"{model.rows}x{model.cols}")
    for epoch in range(1, s["later_epoch"] + 1):
        model.fit(ds, epochs=1, verbose=2, shuffle=False)
        if epoch not in (1, s["later_epoch"]):
            continue
        table = model.get_table()
        row_loss, col_loss, n = loss_statistics(model, ids, s["batch_size"], s["bptt"])
        path = os.path.join(out_dir, f"realloc_{corpus}_e{epoch}.npz")
        np.savez_compressed(path, row_loss=row_loss.astype(np.float32), col_loss=col_loss.astype(np.float32),
                            word_row=table.word_row.astype(np.int16), word_col=table.word_col.astype(np.int16),
                            rows=model.rows, cols=model.cols,
                            settings=json.dumps(dict(settings, epoch=epoch, stat_tokens=int(n))))
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB), V={len(vocab)}, tokens={len(ids)}", flush=True)
        if epoch == 1:
            report = reallocate(model, ids, batch_size=s["batch_size"], bptt=s["bptt"], solver="greedy")
            print(f"greedy reallocation: {report['objective_before']:.6g} -> {report['objective_after']:.6g}, "
                  f"moved {report['moved']}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    p.add_argument("--shared", default=SHARED, help="folder holding kjv/ and ptb/ (default: $LIGHTRNN_DATA, else ../shared/data)")
    p.add_argument("--out", default=FIXTURES)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for corpus in args.corpus:
        make(corpus, args.shared, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
