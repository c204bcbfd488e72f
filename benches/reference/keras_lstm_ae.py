"""Time the standard LSTM encoder-decoder in TensorFlow/Keras, for comparison with `bench`.

The model, shapes and settings match the `standard` rows of `sparse-lstm-ad bench`:

- an LSTM encoder of `h` units reads windows of `l` steps of `k` sensors and keeps its last
  hidden state. `RepeatVector(l)` feeds that state to a decoder LSTM of `h` units at every
  step, and a dense layer maps each decoder step to `k` outputs;
- Adam with learning rate 1e-3 and epsilon 1e-7, mean squared error, batch 64;
- random standard-normal windows, 3 untimed training steps and then `--steps` timed ones
  (`train_on_batch`), cycling through 4 fixed batches;
- one untimed and then `--scoring-batches` timed forward passes of 256 windows
  (`predict_on_batch`) and the error `x - x_hat` copied to NumPy, like the Rust scoring pass.

The output has the columns of the Rust table. GFLOP/s use the same estimate as src/bench.rs,
so they scale with windows/s. Keras projects the repeated encoding at every decoder step,
which the Rust model does once, so the estimate undercounts the work Keras does. No peak
is measured here, so the `% peak` columns print n/a. `peak RSS MiB` is VmHWM, reset before
each configuration, as in the Rust benchmark.

Usage (not needed by the tests):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python benches/reference/keras_lstm_ae.py --steps 20 --config all

XLA is off unless `--jit-compile` is given. That matches Keras's default, `jit_compile="auto"`,
which turns XLA off on machines without a GPU (Keras 3.15.1, `Trainer._resolve_auto_jit_compile`).
"""

import argparse
import json
import os
import platform
import time

# Keep TensorFlow's start-up messages out of the table.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

CONFIGS = {
    "canonical": {"sensors": 38, "window": 100, "hidden_size": 64, "batch_size": 64},
    "high-dim": {"sensors": 200, "window": 50, "hidden_size": 128, "batch_size": 64},
}
WARMUP_STEPS = 3
SCORING_BATCH = 256
TRAIN_BATCHES = 4


def forward_flops_per_window(sensors, window, hidden_size):
    """Estimate the forward FLOPs of one window with the formula of src/bench.rs (standard)."""
    k, l, h = sensors, window, hidden_size
    encoder = l * (k * 4 * h + h * 4 * h)
    decoder = h * 4 * h + l * h * 4 * h
    output = l * h * k
    return 2.0 * (encoder + decoder + output)


def reset_peak_resident():
    """Reset VmHWM to the current resident set size and return whether that worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_resident_kib():
    """Return VmHWM from /proc/self/status in KiB, or None where it is unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def header():
    return (
        f"{'config':<10} {'variant':<19} {'k':>4} {'l':>4} {'h':>4} {'batch':>5} "
        f"{'train win/s':>12} {'score win/s':>12} {'train GFLOP/s':>13} {'% peak':>7} "
        f"{'score GFLOP/s':>13} {'% peak':>7} {'peak RSS MiB':>13}"
    )


def format_row(row):
    resident = row["peak_resident_kib"]
    resident = "n/a" if resident is None else f"{resident / 1024:.0f}"
    return (
        f"{row['config']:<10} {row['variant']:<19} {row['sensors']:>4} {row['window']:>4} "
        f"{row['hidden_size']:>4} {row['batch_size']:>5} "
        f"{row['train_windows_per_second']:>12.1f} {row['score_windows_per_second']:>12.1f} "
        f"{row['train_gflops']:>13.2f} {'n/a':>7} {row['score_gflops']:>13.2f} {'n/a':>7} "
        f"{resident:>13}"
    )


def build_model(keras, sensors, window, hidden_size, jit_compile):
    inputs = keras.Input(shape=(window, sensors))
    encoding = keras.layers.LSTM(hidden_size)(inputs)
    repeated = keras.layers.RepeatVector(window)(encoding)
    decoded = keras.layers.LSTM(hidden_size, return_sequences=True)(repeated)
    outputs = keras.layers.TimeDistributed(keras.layers.Dense(sensors))(decoded)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
        loss="mse",
        jit_compile=jit_compile,
    )
    return model


def bench_one(keras, name, config, args):
    reset = reset_peak_resident()
    k, l, h, batch = (
        config["sensors"],
        config["window"],
        config["hidden_size"],
        config["batch_size"],
    )
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_model(keras, k, l, h, args.jit_compile)

    train = rng.standard_normal((TRAIN_BATCHES, batch, l, k), dtype=np.float32)
    for i in range(WARMUP_STEPS):
        model.train_on_batch(train[i % TRAIN_BATCHES], train[i % TRAIN_BATCHES])
    started = time.perf_counter()
    for i in range(args.steps):
        model.train_on_batch(train[i % TRAIN_BATCHES], train[i % TRAIN_BATCHES])
    train_seconds = time.perf_counter() - started

    score = rng.standard_normal(
        (args.scoring_batches + 1, SCORING_BATCH, l, k), dtype=np.float32
    )
    np.asarray(score[0] - model.predict_on_batch(score[0]))
    started = time.perf_counter()
    for i in range(1, args.scoring_batches + 1):
        np.asarray(score[i] - model.predict_on_batch(score[i]))
    score_seconds = time.perf_counter() - started

    forward = forward_flops_per_window(k, l, h)
    train_rate = args.steps * batch / train_seconds
    score_rate = args.scoring_batches * SCORING_BATCH / score_seconds
    return {
        "config": name,
        "variant": "standard",
        "sensors": k,
        "window": l,
        "hidden_size": h,
        "batch_size": batch,
        "train_windows_per_second": train_rate,
        "score_windows_per_second": score_rate,
        "forward_flops_per_window": forward,
        "train_gflops": train_rate * 3 * forward / 1e9,
        "score_gflops": score_rate * forward / 1e9,
        "peak_resident_kib": peak_resident_kib(),
        "peak_resident_reset": reset,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument(
        "--scoring-batches",
        type=int,
        default=5,
        help="timed scoring batches of 256 windows",
    )
    parser.add_argument(
        "--config", choices=["canonical", "high-dim", "all"], default="all"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="TensorFlow intra-op and inter-op threads [default: TensorFlow's choice]",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data")
    parser.add_argument(
        "--jit-compile", action="store_true", help="compile the model with XLA"
    )
    parser.add_argument("--json", help="also write the numbers as JSON to this file")
    args = parser.parse_args()
    if args.steps < 1 or args.scoring_batches < 1:
        parser.error("--steps and --scoring-batches must be at least 1")

    import tensorflow as tf
    import keras

    if args.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    names = list(CONFIGS) if args.config == "all" else [args.config]

    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python "
        f"{platform.python_version()}, threads {args.threads or 'default'}, "
        f"jit_compile {args.jit_compile}"
    )
    print(
        f"{args.steps} timed Adam steps, {args.scoring_batches} scoring batches of "
        f"{SCORING_BATCH} windows; GFLOP/s are estimates (see src/bench.rs)"
    )
    print(header())
    rows = []
    for name in names:
        row = bench_one(keras, name, CONFIGS[name], args)
        print(format_row(row), flush=True)
        rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tensorflow": tf.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
