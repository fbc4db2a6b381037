"""Training loop of the Y-Net (``python -m medcloud.ai train --model ynet``).

Trains on ``split == train`` of brain_mri_cheng + brain_mri_no_tumor, evaluates
on ``split == val`` after every epoch, keeps the best epoch (mean of accuracy,
macro F1, tumour-type accuracy and Dice) and exports it to ``weights/``.
Deterministic given ``--seed`` (seeded sample order, stateless augmentation,
``enable_op_determinism``) on a fixed thread count.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from medcloud.ai.runtime import AIRuntime
from medcloud.ai.ynet.config import CLASSES, MODEL_FILE, TrainConfig
from medcloud.core.paths import REPO_ROOT


def configure_tensorflow(seed: int, threads: int = 2, deterministic: bool = True) -> None:
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, threads // 2))
    except RuntimeError:
        pass  # already initialised
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def train(
    cfg: TrainConfig,
    out_dir: Path | None = None,
    export_path: Path | None = MODEL_FILE,
    verbose: int = 2,
    *,
    data_dir: Path,
) -> dict[str, Any]:
    """Train on the ``train`` split of ``TRAIN_SETS`` under ``data_dir``, select the epoch on ``val``;
    with ``export_path``, then ``finish`` (SWA/BN check, export, calibration)."""
    t_start = time.time()
    configure_tensorflow(cfg.seed)
    import keras

    from medcloud.ai.ynet.data import load_split, train_dataset
    from medcloud.ai.ynet.evaluate import evaluate_arrays, selection_score
    from medcloud.ai.ynet.losses import DiceBCELoss, FocalCrossentropy, class_weights_from_counts
    from medcloud.ai.ynet.model import YNet
    from medcloud.ai.ynet.predictor import YNetPredictor

    out_dir = Path(out_dir or (REPO_ROOT / ".var" / "ynet-run"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(cfg.to_json())

    train_arr = load_split("train", cfg.image_size, data_dir, cfg.limit_train, with_erased=cfg.erase_prob > 0)
    val_arr = load_split("val", cfg.image_size, data_dir, cfg.limit_val)
    counts = np.bincount(train_arr.labels, minlength=len(CLASSES))
    if cfg.erase_prob > 0 and train_arr.erased is not None:  # class weights for the classes as they are drawn
        swapped = (
            np.bincount(train_arr.labels[~np.isnan(train_arr.erased[:, 0, 0])], minlength=len(CLASSES)) * cfg.erase_prob
        )
        counts = counts - swapped
        counts[-1] += swapped.sum()
    print(
        f"[ynet] train {len(train_arr.labels)} {dict(zip(CLASSES, counts.tolist(), strict=False))}, "
        f"val {len(val_arr.labels)}; "
        f"loaded in {time.time() - t_start:.0f}s",
        flush=True,
    )

    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = YNet(
        image_size=cfg.image_size,
        base_filters=cfg.base_filters,
        depth=cfg.depth,
        separable=cfg.separable,
        attention=cfg.attention,
        dropout=cfg.dropout,
        num_classes=len(CLASSES),
        class_names=list(CLASSES),
    )
    if cfg.init_from:
        from medcloud.ai.ynet.export import load_model

        model.set_weights(load_model(cfg.init_from).get_weights())
        print(f"[ynet] initialised from {cfg.init_from}", flush=True)
    steps = cfg.steps_per_epoch or len(train_arr.labels) // cfg.batch_size
    total_steps = steps * cfg.epochs
    warmup = min(steps * cfg.warmup_epochs, total_steps // 2)
    if warmup:
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=cfg.peak_lr / 10,
            decay_steps=max(total_steps - warmup, 1),
            alpha=cfg.min_lr / cfg.peak_lr,
            warmup_target=cfg.peak_lr,
            warmup_steps=warmup,
        )
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=cfg.peak_lr, decay_steps=max(total_steps, 1), alpha=cfg.min_lr / cfg.peak_lr
        )
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay, global_clipnorm=2.0)
    model.compile(
        optimizer=optimizer,
        loss={
            "class": FocalCrossentropy(cfg.focal_gamma, cfg.label_smoothing, class_weights_from_counts(counts)),
            "mask": DiceBCELoss(),
        },
        loss_weights={"class": cfg.class_loss_weight, "mask": cfg.mask_loss_weight},
        metrics={"class": [keras.metrics.CategoricalAccuracy(name="acc")]},
        jit_compile=False,
    )
    print(f"[ynet] params {model.count_params():,}; {steps} steps/epoch x {cfg.epochs} epochs", flush=True)
    ds = train_dataset(
        train_arr,
        cfg.epochs,
        cfg.batch_size,
        cfg.seed,
        len(CLASSES),
        strength=cfg.aug_strength,
        erase_prob=cfg.erase_prob,
    )

    history: list[dict[str, Any]] = []
    best = {"score": -1.0, "epoch": -1, "metrics": None}

    class ValCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.t_epoch = time.time()

        def on_epoch_begin(self, epoch, logs=None):
            self.t_epoch = time.time()

        def on_epoch_end(self, epoch, logs=None):
            t_train = time.time() - self.t_epoch
            pred = YNetPredictor(self.model, tta=False, batch_size=32)
            m = evaluate_arrays(pred, val_arr)
            score = selection_score(m)
            row = {
                "epoch": epoch + 1,
                "train_time_s": round(t_train, 1),
                "elapsed_min": round((time.time() - t_start) / 60, 2),
                "lr": float(keras.ops.convert_to_numpy(schedule(self.model.optimizer.iterations))),
                **{k: float(v) for k, v in (logs or {}).items()},
                **{
                    f"val_{k}": m[k]
                    for k in ("accuracy", "macro_f1", "tumour_type_accuracy", "dice", "iou", "small_mask_type_accuracy")
                },
                "val_score": score,
            }
            history.append(row)
            (out_dir / "history.json").write_text(json.dumps(history, indent=1))
            self.model.save(out_dir / "last.keras")
            if cfg.swa_last:  # keep the last swa_last epochs for the weight averaging
                self.model.save(out_dir / f"epoch-{epoch + 1:02d}.keras")
                (out_dir / f"epoch-{epoch + 1 - cfg.swa_last:02d}.keras").unlink(missing_ok=True)
            if score > best["score"]:
                best.update(score=score, epoch=epoch + 1, metrics=m)
                self.model.save(out_dir / "best.keras")
            print(
                "[ynet] " + json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}),
                flush=True,
            )
            elapsed = time.time() - t_start
            per_epoch = elapsed / (epoch + 1)
            if elapsed + per_epoch > cfg.time_budget_min * 60 and epoch + 1 < cfg.epochs:
                print(f"[ynet] time budget reached after epoch {epoch + 1}: stopping", flush=True)
                self.model.stop_training = True

    model.fit(ds, epochs=cfg.epochs, steps_per_epoch=steps, callbacks=[ValCallback()], verbose=verbose)
    wall = time.time() - t_start
    print(
        f"[ynet] training done in {wall / 60:.1f} min; best epoch {best['epoch']} score {best['score']:.4f}", flush=True
    )

    result = {"best_epoch": best["epoch"], "best_val": best["metrics"], "wall_min": wall / 60, "history": history}
    if export_path is not None:
        finish(cfg, out_dir, export_path, history, wall, data_dir=data_dir)
    return result


def finish(
    cfg: TrainConfig,
    out_dir: Path,
    export_path: Path,
    history: list[dict[str, Any]],
    wall_s: float | None = None,
    *,
    data_dir: Path,
) -> Path:
    """After the epochs: SWA over the last epochs + BN recalibration (chosen on val when better than
    the best single epoch), float32 export with metadata, the training history beside it, and the
    val-tuned mask post-processing. ``python -m medcloud.ai train --finish-only --out-dir DIR`` runs
    just this on a finished (or cut-off) run."""
    import keras

    from medcloud.ai.ynet.export import export_model, load_model
    from medcloud.ai.ynet.preprocessing import DESCRIPTION as PREPROCESSING

    out_dir = Path(out_dir)
    best_row = max(history, key=lambda h: h["val_score"])
    chosen = out_dir / "best.keras"
    swa_row = None
    if cfg.swa_last:
        from medcloud.ai.ynet.swa import select

        ckpts = sorted(out_dir.glob("epoch-*.keras"))[-cfg.swa_last :]
        if ckpts:
            swa = select(ckpts, out_dir / "swa.keras", data_dir=data_dir)
            (out_dir / "swa.json").write_text(json.dumps(swa, indent=2) + "\n")
            print(f"[ynet] SWA/BN-recalibration candidates: {json.dumps(swa['candidates'])}", flush=True)
            if swa["chosen"]["score"] > best_row["val_score"]:
                chosen = out_dir / "swa.keras"
                swa_row = swa["chosen"]
    best_model = load_model(chosen)
    keras.mixed_precision.set_global_policy("float32")
    if wall_s is None:
        wall_s = 60 * float(history[-1].get("elapsed_min", 0.0))
    meta = {
        "classes": list(CLASSES),
        "image_size": cfg.image_size,
        "train_config": cfg.to_dict(),
        "epochs_run": len(history),
        "best_epoch": best_row["epoch"],
        "best_epoch_val_no_tta": best_row,
        "swa": swa_row,
        "exported_from": chosen.name,
        "train_wall_min": round(wall_s / 60, 1),
        "preprocessing": PREPROCESSING,
    }
    export_model(best_model, export_path, meta)
    print(f"[ynet] exported {export_path} (from {chosen.name})", flush=True)
    (Path(export_path).parent / (Path(export_path).stem + "-history.json")).write_text(
        json.dumps(history, indent=1) + "\n"
    )
    from medcloud.ai.ynet.calibrate import calibrate

    post = calibrate(export_path, data_dir=data_dir)
    print(
        f"[ynet] val-tuned post-processing: {json.dumps(post['postprocessing'])} "
        f"dice {post['postprocessing_val']['dice']:.4f}",
        flush=True,
    )
    return Path(export_path)


def main(argv: list[str] | None = None, runtime: AIRuntime | None = None) -> int:
    import argparse

    runtime = runtime or AIRuntime.from_environ()

    p = argparse.ArgumentParser("medcloud.ai train --model ynet")
    defaults = TrainConfig()
    for name, val in defaults.to_dict().items():
        if isinstance(val, bool):
            p.add_argument(f"--{name.replace('_', '-')}", type=lambda s: s.lower() in ("1", "true", "yes"), default=val)
        elif val is None:
            p.add_argument(f"--{name.replace('_', '-')}", type=str if name == "init_from" else int, default=None)
        else:
            p.add_argument(f"--{name.replace('_', '-')}", type=type(val), default=val)
    p.add_argument("--out-dir", type=Path, default=None)
    p.add_argument(
        "--export", type=Path, default=runtime.weights_for("ynet", MODEL_FILE), help="where to write the best model"
    )
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--model", default="ynet")
    p.add_argument("--data", nargs="*", default=None, help="the data folder holding TRAIN_SETS (default: shared)")
    p.add_argument("--finish-only", action="store_true", help="only the post-training steps on --out-dir")
    args = p.parse_args(argv)
    data_dir = Path(args.data[0]).resolve() if args.data else runtime.data_dir
    cfg = TrainConfig(**{k: getattr(args, k) for k in defaults.to_dict()})
    if args.finish_only:
        out_dir = Path(args.out_dir or (REPO_ROOT / ".var" / "ynet-run"))
        saved = TrainConfig.from_dict(json.loads((out_dir / "config.json").read_text()))
        saved.swa_last = cfg.swa_last
        configure_tensorflow(saved.seed)
        finish(saved, out_dir, args.export, json.loads((out_dir / "history.json").read_text()), data_dir=data_dir)
        return 0
    train(cfg, args.out_dir, None if args.no_export else args.export, data_dir=data_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
