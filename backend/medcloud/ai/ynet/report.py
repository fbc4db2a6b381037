"""Figures of the model card: training curves, confusion matrix, example predictions.

    python -m medcloud.ai.ynet.report --history backend/medcloud/ai/ynet/weights/ynet-history.json \
        --eval .var/ynet-eval-val.json --out docs/models/img
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from medcloud.ai.runtime import AIRuntime


def plot_history(history: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].plot(ep, [h["loss"] for h in history], label="total")
    ax[0].plot(ep, [h["class_loss"] for h in history], label="classification (focal CE)")
    ax[0].plot(ep, [h["mask_loss"] for h in history], label="mask (BCE + Dice)")
    ax[0].set_title("training loss")
    ax[0].set_xlabel("epoch")
    ax[0].legend()
    ax[1].plot(ep, [h["class_acc"] for h in history], label="train accuracy (augmented)")
    ax[1].plot(ep, [h["val_accuracy"] for h in history], label="val accuracy")
    ax[1].plot(ep, [h["val_macro_f1"] for h in history], label="val macro F1")
    ax[1].plot(ep, [h["val_tumour_type_accuracy"] for h in history], label="val tumour-type accuracy")
    ax[1].axhline(0.95, color="grey", ls=":", lw=1)
    ax[1].set_ylim(0.3, 1.0)
    ax[1].set_title("classification (val without TTA)")
    ax[1].set_xlabel("epoch")
    ax[1].legend(loc="lower right")
    ax[2].plot(ep, [h["val_dice"] for h in history], label="val Dice (pooled)")
    ax[2].plot(ep, [h["val_iou"] for h in history], label="val IoU (pooled)")
    ax[2].axhline(0.85, color="grey", ls=":", lw=1)
    ax[2].axhline(0.75, color="grey", ls=":", lw=1)
    ax[2].set_ylim(0.0, 1.0)
    ax2 = ax[2].twinx()
    ax2.plot(ep, [h["lr"] for h in history], color="grey", alpha=0.5, label="learning rate")
    ax2.set_ylabel("learning rate")
    ax[2].set_title("segmentation (val without TTA)")
    ax[2].set_xlabel("epoch")
    ax[2].legend(loc="lower right")
    fig.tight_layout()
    path = out / "ynet-training-curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(ev: dict, out: Path, name: str = "ynet-confusion-val.png", title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ev["confusion_matrix"]["labels"]
    cm = np.array(ev["confusion_matrix"]["rows_true_cols_pred"])
    keep = cm.sum(axis=1) > 0
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    rows = cm[keep]
    norm = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ylabels = [name for name, k in zip(labels, keep, strict=False) if k]
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(ylabels)), ylabels)
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            ax.text(j, i, f"{rows[i, j]}", ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"Y-Net confusion matrix (n={ev['n_labelled']})")
    fig.tight_layout()
    path = out / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_examples(out: Path, n: int = 8, weights: str | Path | None = None, *, data_dir: Path) -> Path:
    """A few validation slices with the true (green) and predicted (red) tumour borders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medcloud.ai.common.manifest import load_image, load_mask, read_manifest
    from medcloud.ai.ynet.predictor import YNetPredictor

    recs = read_manifest(Path(data_dir) / "brain_mri_cheng", splits=["val"])
    recs = [recs[i] for i in np.linspace(0, len(recs) - 1, n - 2).astype(int)]
    recs += read_manifest(Path(data_dir) / "brain_mri_no_tumor", splits=["val"])[:2]
    pred = YNetPredictor.from_file(weights)
    imgs = [load_image(r.image_path) for r in recs]
    probs, masks = pred.predict_slices(imgs)
    fig, axes = plt.subplots(2, n // 2, figsize=(3 * n // 2, 6.4))
    for ax, r, img, p, m in zip(axes.ravel(), recs, imgs, probs, masks, strict=False):
        ax.imshow(img, cmap="gray")
        t = load_mask(r, img.shape)
        if t.any():
            ax.contour(t, levels=[0.5], colors="lime", linewidths=1)
        if (m >= 0.5).any():
            ax.contour(m, levels=[0.5], colors="red", linewidths=1)
        k = int(np.argmax(p))
        ax.set_title(f"true {r.label}\npred {pred.class_names[k]} {p[k]:.2f}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    path = out / "ynet-examples-val.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser("python -m medcloud.ai.ynet.report")
    p.add_argument("--history", type=Path, required=True)
    p.add_argument("--eval", type=Path, default=None, help="JSON written by evaluate --out (val rows)")
    p.add_argument("--out", type=Path, default=Path("docs/models/img"))
    p.add_argument("--examples", action="store_true")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(plot_history(json.loads(args.history.read_text()), args.out))
    if args.eval:
        print(plot_confusion(json.loads(args.eval.read_text()), args.out))
    if args.examples:
        runtime = AIRuntime.from_environ()
        print(plot_examples(args.out, weights=runtime.weights_for("ynet"), data_dir=runtime.data_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
