"""Perplexity of a saved run on any text: `python -m lightrnn_tf.evaluate`.

    python -m lightrnn_tf.evaluate --run runs/kjv --text some.txt
    python -m lightrnn_tf.evaluate --run runs/kjv --split test      # the run's own test split again

The text is tokenized with the run's tokenizer and vocabulary (unknown words become `<unk>`),
`<eos>` follows every line, and the stream is read with the run's batch layout (`--batch-size`,
`--bptt` of its config.json) by `stream_model.stream_perplexity` — the function training used
for `metrics.json`, so `--split valid` and `--split test` reproduce its `valid_ppl` and
`test_ppl`. Expected failures print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from lightrnn_tf.errors import ArgumentParser, LightRNNError


def evaluate(run_dir: str, text: str = "", split: str = "", batch_size: int = 0, bptt: int = 0,
             verbose: int = 0) -> dict:
    """Returns `{"perplexity", "tokens", "targets", "unk_rate", "source"}` of a run on a file or split
    (`verbose=1`: a progress bar over the windows)."""
    from lightrnn_tf.config import TrainConfig
    from lightrnn_tf.data import load_corpus, read_lines
    from lightrnn_tf.rundir import load_run
    from lightrnn_tf.stream_model import stream_perplexity

    if bool(text) == bool(split):
        raise LightRNNError("give exactly one of --text FILE and --split valid|test")
    for name, value in (("batch_size", batch_size), ("bptt", bptt)):
        if value < 0:
            raise LightRNNError(f"Received an invalid value for `{name}`, expected a positive integer "
                                f"(0: the run's own), got {value}.")
    run = load_run(run_dir)
    if split and not run.has_data:
        raise LightRNNError(f"{run_dir} was saved from Python (save_run), whose config.json names no data to take "
                            f"a {split} split from; give --text FILE")
    cfg = run.train_config or TrainConfig()
    if text:
        lines, source = read_lines(text), text
    else:
        lines, source = getattr(load_corpus(cfg), split), f"{split} split of the run's data"
    ids = run.vocab.encode_lines(lines, run.tokenizer)
    if len(ids) < 2:
        raise LightRNNError(f"{source} has {len(ids)} token(s); need at least 2")
    ppl, targets = stream_perplexity(run.model, ids, batch_size or cfg.batch_size, bptt or cfg.bptt, verbose=verbose)
    return {"perplexity": ppl, "tokens": int(len(ids)), "targets": targets,
            "unk_rate": float((ids == run.vocab.unk_id).mean()), "source": source}


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m lightrnn_tf.evaluate",
                       description="Stream perplexity of a saved run (RUN/model.keras) on a text.")
    p.add_argument("--run", required=True, help="run directory written by python -m lightrnn_tf.train")
    p.add_argument("--text", default="", help="text file, one sentence or line per line (give this or --split)")
    p.add_argument("--split", default="", choices=["", "valid", "test"],
                   help="re-read the run's own valid or test split from the data named in its config.json "
                        "(give this or --text)")
    p.add_argument("--batch-size", type=int, default=0, help="parallel streams (default: the run's)")
    p.add_argument("--bptt", type=int, default=0, help="window length (default: the run's)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # A progress bar on a terminal, never into --json's output.
        verbose = 1 if sys.stdout.isatty() and not args.json else 0
        result = evaluate(args.run, args.text, args.split, args.batch_size, args.bptt, verbose=verbose)
    except LightRNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['source']}: perplexity {result['perplexity']:.4f} over {result['targets']} target words "
              f"({result['unk_rate']:.1%} <unk>)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
