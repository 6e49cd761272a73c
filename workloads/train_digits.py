"""Train the 8 x 8 digit classifier once and convert it to a rate-coded spiking network.

    python workloads/train_digits.py            # writes workloads/digits_weights.npz (< 1 min)
    python workloads/train_digits.py --export   # only rewrites digits.npz and digits_test.npz from it

scikit-learn is needed here only (``load_digits`` ships the data set, no download); running the
workload needs numpy and the shipped ``digits_weights.npz``.

1. Data: the 1,797 8 x 8 digits, pixels 0..16; a fixed-seed split keeps 30 % (540 digits) for
   the test set (539 digits), never seen in training.
2. ANN: 64 -> 64 -> 10, ReLU hidden layer, softmax output, biases; numpy mini-batch SGD with
   momentum on the cross-entropy; inputs are pixel / 16 in [0, 1].
3. Conversion (data-based normalisation, Diehl et al. 2015; Rueckauer et al. 2017): with
   lambda_l the 99.9th percentile of layer l's ReLU activations on the training set, weights
   become W_l lambda_(l-1) / lambda_l and biases b_l / lambda_l, so that every IF neuron
   (threshold 1, reset by subtraction, no leak) fires at about its ANN activation / lambda_l
   spikes per tick. Input pixel i spikes in a tick with probability pixel / 16 (Bernoulli, rate
   coding). The answer is the output neuron with the most spikes over the presentation (ties:
   the higher membrane potential at the end).
4. Check: the spiking network runs on :func:`neuroemu.networks.graph.simulate_reference`, in float
   with 8-bit per-synapse weights (:func:`neuroemu.networks.quantise.quantise`, the Loihi rule), and
   TrueNorth's 4 axon types x 9-bit weights: with each source on 4 axon copies (a 4-bit code
   per synapse; 64 sources x 4 = 256 axons, one TrueNorth core's worth) and, for comparison,
   with one axon per source (k-means types), which loses most of the accuracy.

The file holds: ANN weights and biases (``w1, b1, w2, b2``), the normalisation factors
(``lambdas``), the converted weights and biases (``snn_w1, snn_b1, snn_w2, snn_b2``), the split
indices (``train_idx``, ``test_idx`` into ``load_digits`` order), the test set as input rates
(``test_rates`` float32 [539, 64], spikes per tick) and labels (``test_labels``), the
presentation length ``ticks`` and the accuracies measured here.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from neuroemu.networks.graph import Network, NetworkBuilder, simulate_reference  # noqa: E402

OUT = HERE / "digits_weights.npz"
NETWORK_OUT = HERE / "digits.npz"        # the spiking network as an edge list (neuroemu.networks.edgelist)
DATASET_OUT = HERE / "digits_test.npz"   # the held-out test set: rates [539, 64] and labels
SEED = 2024
HIDDEN = 64
EPOCHS = 60
TICKS = 32          # ticks per presentation (48: +0.7 points; 16: -0.3)
LAYER_DELAY = 1     # ticks a spike takes per synapse (the chip's minimum)


def split(n: int, seed: int = SEED, test_fraction: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed train / test indices."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def train_ann(x: np.ndarray, y: np.ndarray, seed: int = SEED) -> list[np.ndarray]:
    """64 -> HIDDEN (ReLU) -> 10 softmax by SGD with momentum; returns [w1, b1, w2, b2]."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, np.sqrt(2 / x.shape[1]), (x.shape[1], HIDDEN))
    w2 = rng.normal(0, np.sqrt(2 / HIDDEN), (HIDDEN, 10))
    b1, b2 = np.zeros(HIDDEN), np.zeros(10)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[y]
    lr, momentum, decay, batch = 0.05, 0.9, 1e-4, 32
    for epoch in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            i = order[start:start + batch]
            h = np.maximum(x[i] @ w1 + b1, 0)
            z = h @ w2 + b2
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            dz = (p - onehot[i]) / len(i)
            dh = (dz @ w2.T) * (h > 0)
            grads = [x[i].T @ dh + decay * w1, dh.sum(0), h.T @ dz + decay * w2, dz.sum(0)]
            for p_, v, g in zip(params, velocity, grads):
                v *= momentum
                v -= lr * g
                p_ += v
        if epoch == EPOCHS * 2 // 3:
            lr *= 0.2  # a late, smaller step settles the minimum
    return params


def ann_predict(params, x) -> np.ndarray:
    """Class scores of the ANN."""
    w1, b1, w2, b2 = params
    return np.maximum(x @ w1 + b1, 0) @ w2 + b2


def convert(params, x_train, percentile: float = 99.9) -> tuple[list[np.ndarray], np.ndarray]:
    """Data-based weight / threshold normalisation (module docstring); returns SNN params and lambdas."""
    w1, b1, w2, b2 = params
    a1 = np.maximum(x_train @ w1 + b1, 0)
    a2 = np.maximum(a1 @ w2 + b2, 0)
    lam = np.array([1.0, np.percentile(a1, percentile), np.percentile(a2, percentile)])
    snn = [w1 * lam[0] / lam[1], b1 / lam[1], w2 * lam[1] / lam[2], b2 / lam[2]]
    return snn, lam


def digits_network(snn_w1, snn_b1, snn_w2, snn_b2, name: str = "digits") -> Network:
    """The converted classifier as a :class:`Network`: inputs 'pixels', IF groups 'hidden' and 'out'."""
    b = NetworkBuilder(name)
    b.add_inputs("pixels", snn_w1.shape[0])
    b.add_neurons("hidden", snn_w1.shape[1], model="IF", threshold=1.0, bias=snn_b1, reset="subtract")
    b.add_neurons("out", snn_w2.shape[1], model="IF", threshold=1.0, bias=snn_b2, reset="subtract")
    b.connect("pixels", "hidden", snn_w1, delay=LAYER_DELAY)
    b.connect("hidden", "out", snn_w2, delay=LAYER_DELAY)
    return b.build(outputs="out")


def load_network(path=OUT) -> tuple[Network, dict]:
    """The shipped network and the file's arrays (no scikit-learn needed)."""
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    return digits_network(data["snn_w1"], data["snn_b1"], data["snn_w2"], data["snn_b2"]), data


def poisson_spikes(rates: np.ndarray, ticks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli input spikes: input i fires in each tick with probability ``rates[i]``."""
    hit = np.random.default_rng(seed).random((ticks, len(rates))) < rates
    t, i = np.nonzero(hit)
    return t.astype(np.int64), i.astype(np.int64)


def classify(network: Network, rates: np.ndarray, ticks: int, seed: int) -> int:
    """Present one digit for ``ticks`` ticks on the reference simulator; the winning output."""
    run = simulate_reference(network, ticks, inputs=poisson_spikes(rates, ticks, seed))
    out = network.outputs
    counts = np.bincount(run.ids, minlength=network.n_neurons)[out]
    # most spikes first, then the highest membrane potential among those
    best = np.flatnonzero(counts == counts.max())
    return int(best[np.argmax(run.v[out][best])])


def accuracy(network: Network, rates: np.ndarray, labels: np.ndarray, ticks: int, seed: int = SEED) -> float:
    """Spiking test accuracy; each digit gets its own input seed (seed + index)."""
    hits = sum(classify(network, r, ticks, seed + k) == y for k, (r, y) in enumerate(zip(rates, labels)))
    return hits / len(labels)


def export(path=OUT) -> None:
    """Write the workload's files from the trained weights: the edge-list network and the test set."""
    from neuroemu.networks.edgelist import save_npz

    net, data = load_network(path)
    save_npz(net, NETWORK_OUT)
    np.savez_compressed(DATASET_OUT, rates=data["test_rates"], labels=data["test_labels"].astype(np.int64))
    print(f"wrote {NETWORK_OUT.name} ({NETWORK_OUT.stat().st_size / 1024:.0f} KiB) and {DATASET_OUT.name} "
          f"({DATASET_OUT.stat().st_size / 1024:.0f} KiB)")


def main() -> None:
    """Train, convert, check, write ``digits_weights.npz`` and print the accuracies."""
    from sklearn.datasets import load_digits  # only the training script needs scikit-learn

    from neuroemu.networks.quantise import quantise

    t0 = time.time()
    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    train_idx, test_idx = split(len(x))
    params = train_ann(x[train_idx], y[train_idx])
    ann_acc = float((ann_predict(params, x[test_idx]).argmax(1) == y[test_idx]).mean())
    snn, lam = convert(params, x[train_idx])
    net = digits_network(*snn)
    rates, labels = x[test_idx], y[test_idx]
    acc_float = accuracy(net, rates, labels, TICKS)
    q8, rep8 = quantise(net, bits=8, scheme="loihi")
    acc_8bit = accuracy(q8, rates, labels, TICKS)
    qtn, reptn = quantise(net, bits=9, scheme="truenorth", copies=4)
    acc_tn = accuracy(qtn, rates, labels, TICKS)
    qk, repk = quantise(net, bits=9, scheme="truenorth", copies=1)
    acc_tn1 = accuracy(qk, rates, labels, TICKS)
    np.savez_compressed(
        OUT, w1=params[0].astype(np.float32), b1=params[1].astype(np.float32), w2=params[2].astype(np.float32),
        b2=params[3].astype(np.float32), lambdas=lam, snn_w1=snn[0], snn_b1=snn[1], snn_w2=snn[2], snn_b2=snn[3],
        train_idx=train_idx.astype(np.int16), test_idx=test_idx.astype(np.int16),
        test_rates=rates.astype(np.float32), test_labels=labels.astype(np.int8), ticks=np.int64(TICKS),
        seed=np.int64(SEED), ann_accuracy=ann_acc, snn_accuracy=acc_float, snn_accuracy_8bit=acc_8bit,
        snn_accuracy_truenorth=acc_tn, snn_accuracy_truenorth_1copy=acc_tn1)
    print(f"train {len(train_idx)} / test {len(test_idx)} digits, {TICKS} ticks per digit, "
          f"{time.time() - t0:.1f} s")
    print(f"ANN test accuracy                    {ann_acc:.1%}")
    print(f"spiking, float weights               {acc_float:.1%}")
    print(f"spiking, 8-bit per-synapse (Loihi)   {acc_8bit:.1%}   ({rep8.summary()})")
    print(f"spiking, TrueNorth, 4 axon copies    {acc_tn:.1%}   ({reptn.summary()})")
    print(f"spiking, TrueNorth, 1 axon (k-means) {acc_tn1:.1%}   ({repk.summary()})")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")
    export()


if __name__ == "__main__":
    if "--export" in sys.argv[1:]:  # the workload files from the shipped weights, no training
        export()
        raise SystemExit
    main()
