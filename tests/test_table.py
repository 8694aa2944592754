import numpy as np
import pytest

from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.table import WordTable


def test_random_table_is_a_bijection_onto_cells():
    t = WordTable.random(97, 10, 10, seed=1)
    assert len(set(t.word_cell.tolist())) == 97
    assert t.occupied.sum() == 97
    cw = t.cell_word
    np.testing.assert_array_equal(cw[t.word_cell], np.arange(97))
    assert (cw == -1).sum() == 3
    assert WordTable.random(97, 10, 10, seed=1).moved(t) == 0
    assert WordTable.random(97, 10, 10, seed=2).moved(t) > 50


def test_validation_rejects_collisions_and_out_of_range():
    with pytest.raises(LightRNNError, match=r"cell \(0, 1\) holds more than one word"):
        WordTable([0, 0, 1], [1, 1, 0], 2, 2)
    with pytest.raises(LightRNNError, match="row is outside"):
        WordTable([0, 2], [0, 0], 2, 2)
    with pytest.raises(LightRNNError, match="cannot hold 5 words"):
        WordTable.random(5, 2, 2)


def test_save_load_round_trip_and_corrupt_file(tmp_path):
    t = WordTable.random(20, 5, 5, seed=3)
    p = str(tmp_path / "table.npz")
    t.save(p)
    assert WordTable.load(p).moved(t) == 0
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(LightRNNError, match="corrupt"):
        WordTable.load(str(bad))


def test_tsv_lists_every_word_once(tmp_path):
    t = WordTable.random(6, 2, 3, seed=0)
    words = [f"w{i}" for i in range(6)]
    p = tmp_path / "a.tsv"
    t.to_tsv(str(p), words)
    rows = [line.split("\t") for line in p.read_text().splitlines()[1:]]
    assert sorted(r[2] for r in rows) == sorted(words)
    for r, c, w in rows:
        i = words.index(w)
        assert (int(r), int(c)) == (t.word_row[i], t.word_col[i])
