"""Post-training: checkpoint weight averaging (SWA-style) and batch-norm recalibration.

The training batches are heavily augmented (intensity, blur, noise, polarity
inversion), so the batch-norm moving statistics describe augmented images; the
Y-Net is then run on clean slices. ``recalibrate_bn`` recomputes the moving mean
and variance of every BatchNormalization layer as the plain average over clean
(non-augmented) *training* images (no weight changes), which is also the
required last step of stochastic weight averaging (Izmailov et al. 2018).

    python -m medcloud.ai.ynet.swa --ckpts .var/ynet-ckpt/epoch-2*.keras --out .var/ynet-swa.keras

Each candidate (every single checkpoint given, and the averages of the last k of
them) is scored on val like the training loop does; the best is saved.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medcloud.ai.runtime import AIRuntime


def average_weights(models) -> list[np.ndarray]:
    ws = [m.get_weights() for m in models]
    return [np.mean([w[i] for w in ws], axis=0) for i in range(len(ws[0]))]


def recalibrate_bn(model, images: np.ndarray, batch_size: int = 32) -> None:
    """Set every BatchNormalization's moving mean/variance to the average batch statistics over ``images``."""
    import keras
    import tensorflow as tf

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return
    probe = keras.Model(model.inputs, [layer.input for layer in bns])
    n = 0
    sums = [np.zeros(layer.moving_mean.shape, np.float64) for layer in bns]
    sq = [np.zeros(layer.moving_mean.shape, np.float64) for layer in bns]

    @tf.function(reduce_retracing=True)
    def stats(x):
        # training=True: every BN normalises with the batch statistics, as during training, so the
        # inputs of the deeper layers are what they were in training (PyTorch's update_bn does the same)
        feats = probe(x, training=True)
        if not isinstance(feats, (list, tuple)):
            feats = [feats]
        return [(tf.reduce_mean(f, axis=[0, 1, 2]), tf.reduce_mean(tf.square(f), axis=[0, 1, 2])) for f in feats]

    order = np.random.default_rng(0).permutation(len(images))  # mixed batches, as in training
    for i in range(0, len(images) - batch_size + 1, batch_size):
        xb = images[order[i : i + batch_size]]
        k = len(xb)
        for j, (m, m2) in enumerate(stats(tf.convert_to_tensor(xb))):
            sums[j] += m.numpy().astype(np.float64) * k
            sq[j] += m2.numpy().astype(np.float64) * k
        n += k
    for j, layer in enumerate(bns):
        mean = sums[j] / n
        # mean of per-batch variances + variance of per-batch means = total variance (law of total variance)
        var = np.maximum(sq[j] / n - mean**2, 0.0)
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(var.astype(np.float32))


def select(
    ckpts: Sequence[str | Path],
    out: str | Path,
    ks: Sequence[int] = (1, 4, 8),
    recal: bool = True,
    also_plain: bool = False,
    *,
    data_dir: Path,
) -> dict:
    from medcloud.ai.ynet.data import load_split
    from medcloud.ai.ynet.evaluate import evaluate_arrays, selection_score
    from medcloud.ai.ynet.export import load_model
    from medcloud.ai.ynet.predictor import YNetPredictor

    t0 = time.time()
    ckpts = sorted(Path(c) for c in ckpts)
    models = [load_model(c) for c in ckpts]
    size = int(models[0].input_shape[1])
    train = load_split("train", size, data_dir)
    val = load_split("val", size, data_dir)
    clean = train.images[..., None]
    candidates = []
    base = load_model(ckpts[-1])
    for k in sorted({k for k in ks if k <= len(models)}):
        for do_recal in (False, True) if (recal and also_plain) else (recal,):
            m = base
            m.set_weights(average_weights(models[-k:]))
            if do_recal:
                recalibrate_bn(m, clean)
            res = evaluate_arrays(YNetPredictor(m, tta=False, batch_size=32), val)
            score = selection_score(res)
            row = {
                "last_k": k,
                "bn_recalibrated": do_recal,
                "score": score,
                **{key: res[key] for key in ("accuracy", "macro_f1", "tumour_type_accuracy", "dice", "iou")},
            }
            print(
                "[swa] " + json.dumps({a: round(b, 4) if isinstance(b, float) else b for a, b in row.items()}),
                flush=True,
            )
            candidates.append((score, row, [w.copy() for w in m.get_weights()]))
    score, row, weights = max(candidates, key=lambda c: c[0])
    base.set_weights(weights)
    base.save(out)
    return {
        "chosen": row,
        "candidates": [c[1] for c in candidates],
        "checkpoints": [str(c) for c in ckpts],
        "seconds": round(time.time() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser("python -m medcloud.ai.ynet.swa")
    p.add_argument("--ckpts", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--no-recal", action="store_true")
    p.add_argument("--also-plain", action="store_true", help="also score the candidates without BN recalibration")
    args = p.parse_args(argv)
    runtime = AIRuntime.from_environ()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    r = select(
        args.ckpts, args.out, args.ks, recal=not args.no_recal, also_plain=args.also_plain, data_dir=runtime.data_dir
    )
    Path(args.out).with_suffix(".swa.json").write_text(json.dumps(r, indent=2) + "\n")
    print(json.dumps(r["chosen"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
