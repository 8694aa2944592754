"""An independent NumPy implementation of the LightRNN forward pass, for tests."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class NumpyLightRNN:
    """Reads the weights of a `LightRNNModel` and steps it word by word in float64."""

    def __init__(self, model):
        g = lambda v: np.asarray(v.numpy(), dtype=np.float64)
        e = model.embedding
        self.Xr, self.Xc = g(e.row_embeddings), g(e.col_embeddings)
        self.word_row = e.word_row.numpy().astype(int)
        self.word_col = e.word_col.numpy().astype(int)
        self.R, self.C = model.rows, model.cols
        self.lstm = [(g(l.cell.kernel), g(l.cell.recurrent_kernel), g(l.cell.bias)) for l in model.lstms]
        s = model.softmax
        self.Wr, self.br = g(s.row_head.kernel), g(s.row_head.bias)
        self.Wc, self.bc = g(s.col_head.kernel), g(s.col_head.bias)
        self.H = model.hidden_dim
        occupied = np.zeros((self.R, self.C), bool)
        occupied[self.word_row, self.word_col] = True
        self.occupied = occupied

    def zero_state(self, b):
        return [(np.zeros((b, self.H)), np.zeros((b, self.H))) for _ in self.lstm]

    def step(self, x, state):
        new = []
        for (K, U, bias), (h, c) in zip(self.lstm, state):
            z = x @ K + h @ U + bias
            i, f, g, o = np.split(z, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            new.append((h, c))
            x = h
        return x, new

    def feed(self, words, state):
        _, state = self.step(self.Xr[self.word_row[words]], state)
        _, state = self.step(self.Xc[self.word_col[words]], state)
        return state

    def row_log_probs(self, state):
        logits = state[-1][0] @ self.Wr + self.br
        return log_softmax(np.where(self.occupied.any(axis=1), logits, -np.inf))  # rows without words: P = 0

    def col_log_probs(self, h, rows, mask=True):
        logits = h @ self.Wc + self.bc
        if mask:
            logits = np.where(self.occupied[rows], logits, -np.inf)
        return log_softmax(logits)

    def word_log_prob(self, word, state):
        """log P(word) (B,) for words (B,) from a state, by the definition in lightrnn.md, plus the
        library's one addition: a row holding no word gets no probability (lightrnn.md masks only
        empty cells in the column softmax; docs/reallocation.md)."""
        r, c = self.word_row[word], self.word_col[word]
        lp_r = self.row_log_probs(state)[np.arange(len(word)), r]
        h, _ = self.step(self.Xr[r], state)
        lp_c = self.col_log_probs(h, r)[np.arange(len(word)), c]
        return lp_r + lp_c

    def stream_log_probs(self, x0, y):
        """(B, T) log P(y_t) starting from the state after x0 (B,)."""
        state = self.feed(x0, self.zero_state(len(x0)))
        out = []
        for t in range(y.shape[1]):
            out.append(self.word_log_prob(y[:, t], state))
            state = self.feed(y[:, t], state)
        return np.stack(out, axis=1)

    def all_word_log_probs(self, state):
        """(B, V) log P(w) for every word."""
        b = state[0][0].shape[0]
        V = len(self.word_row)
        return np.stack([self.word_log_prob(np.full(b, w), state) for w in range(V)], axis=1)
