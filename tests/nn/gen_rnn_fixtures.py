#!/usr/bin/python3
"""PyTorch references for the recurrent layers of src/nn (dev-time only; tests/nn/test_rnn.c
reads the JSON it writes and never needs Python). Run from anywhere:

    /usr/bin/python3 tests/nn/gen_rnn_fixtures.py

writes tests/nn/fixtures/rnn_torch.json: for GRU, LSTM, BiLSTM, 2-layer GRU and 2-layer BiGRU,
the weights (state_dict names), inputs, lengths (masked cases go through
pack_padded_sequence / pad_packed_sequence), initial states, outputs, final states, and the
gradients of loss = sum(y * dy) + sum(h_n * dh_n) [+ sum(c_n * dc_n)] with respect to the input,
the initial states and every parameter. Inputs and weights are float32 values, written with 9
significant digits (C reads them as float exactly); torch computes in float64, so the results
(12 significant digits) are the exact answer for those values."""
import json
import os

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "rnn_torch.json")


def seed_of(name):
    """A seed that does not change between runs (str hash() does)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(name))


def flat(t, digits=12):
    """Values as a list; 12 significant digits for results, 9 (exact) for float32 inputs."""
    return [float("%.*g" % (digits, v)) for v in t.detach().reshape(-1).tolist()]


def flat32(t):
    return flat(t, 9)


def f32(t):
    """Round to float32 values (kept as float64 tensors for the float64 reference)."""
    return t.to(torch.float32).to(torch.float64)


def case(name, cell, inp, hid, layers, bidir, n, t, lengths, with_h0):
    g = torch.Generator().manual_seed(seed_of(name))

    def rand(*shape, scale=1.0):
        return f32((torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale)

    cls = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
    m = cls(inp, hid, num_layers=layers, bidirectional=bidir, batch_first=True).double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(rand(*p.shape, scale=0.7))
    dirs = 2 if bidir else 1
    x = rand(n, t, inp, scale=1.5).requires_grad_(True)
    h0 = rand(layers * dirs, n, hid).requires_grad_(True) if with_h0 else None
    c0 = rand(layers * dirs, n, hid).requires_grad_(True) if with_h0 and cell == "lstm" else None
    state = None if h0 is None else (h0 if cell == "gru" else (h0, c0))

    if lengths is None:
        y, hs = m(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                      enforce_sorted=False)
        out, hs = m(packed, state)
        y, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
    h_n, c_n = (hs, None) if cell == "gru" else hs

    dy = rand(n, t, dirs * hid)
    dh_n = rand(layers * dirs, n, hid)
    dc_n = rand(layers * dirs, n, hid) if cell == "lstm" else None
    loss = (y * dy).sum() + (h_n * dh_n).sum()
    if c_n is not None:
        loss = loss + (c_n * dc_n).sum()
    loss.backward()

    c = {"name": name, "cell": cell, "input_size": inp, "hidden_size": hid, "num_layers": layers,
         "bidirectional": bidir, "n": n, "t": t, "lengths": lengths, "x": flat32(x),
         "params": {k: flat32(v) for k, v in m.state_dict().items()},
         "dy": flat32(dy), "dh_n": flat32(dh_n), "y": flat(y), "h_n": flat(h_n), "dx": flat(x.grad),
         "grads": {k: flat(p.grad) for k, p in m.named_parameters()}}
    if h0 is not None:
        c["h0"], c["dh0"] = flat32(h0), flat(h0.grad)
    if c0 is not None:
        c["c0"], c["dc0"] = flat32(c0), flat(c0.grad)
    if cell == "lstm":
        c["dc_n"], c["c_n"] = flat32(dc_n), flat(c_n)
    return c


def main():
    cases = [
        case("gru_masked", "gru", 5, 4, 1, False, 3, 6, [6, 2, 4], True),
        case("lstm_full", "lstm", 5, 4, 1, False, 3, 5, None, True),
        case("bilstm_masked", "lstm", 5, 4, 1, True, 4, 6, [3, 6, 1, 5], True),
        case("gru_2layer_masked", "gru", 5, 4, 2, False, 3, 5, [5, 3, 2], False),
        case("bigru_2layer_masked", "gru", 3, 4, 2, True, 3, 4, [4, 1, 3], True),
    ]
    with open(OUT, "w") as f:
        json.dump({"generator": "tests/nn/gen_rnn_fixtures.py", "torch": torch.__version__,
                   "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
