"""Benchmark (``make benchmark-ai MODEL=ynet``): load time, series and per-slice inference time, peak memory.

A 24-slice 16-bit MR series is built from validation images (or random images
when the data folder is missing). Timings are medians over ``--repeats`` runs
after one warm-up run, on ``--threads`` CPU threads (2 by default, as on the
target worker). Prints one line per figure and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from medcloud.ai.runtime import AIRuntime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _images(n: int, data_dir: Path | None) -> list[np.ndarray]:
    from medcloud.ai.common.manifest import load_image, read_manifest

    try:
        if data_dir is None:
            raise FileNotFoundError("no data folder")
        recs = read_manifest(Path(data_dir) / "brain_mri_cheng", splits=["val"])[:n]
        if len(recs) == n:
            return [load_image(r.image_path) for r in recs]
    except FileNotFoundError:
        pass
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (256, 256), dtype=np.uint8) for _ in range(n)]


def run_benchmark(
    slices: int = 24,
    repeats: int = 5,
    threads: int = 2,
    weights: str | Path | None = None,
    tta: bool = True,
    data_dir: Path | None = None,
) -> dict:
    t0 = time.perf_counter()
    import tensorflow as tf

    t_import = time.perf_counter() - t0
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    from medcloud.ai.common.synthetic import series_from_images
    from medcloud.ai.ynet.dicom_outputs import build_dicom_outputs
    from medcloud.ai.ynet.export import load_model
    from medcloud.ai.ynet.inference import infer_series
    from medcloud.ai.ynet.predictor import YNetPredictor

    rss_before = _peak_rss_mb()
    t1 = time.perf_counter()
    model = load_model(weights)
    t_load = time.perf_counter() - t1
    predictor = YNetPredictor(model, tta=tta)
    series = series_from_images(_images(slices, data_dir), pixel_spacing=(0.98, 0.98), slice_spacing=5.0, bits=16)

    t2 = time.perf_counter()
    infer_series(series, predictor)  # warm-up (traces the graph)
    t_first = time.perf_counter() - t2

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = infer_series(series, predictor)
        times.append(time.perf_counter() - t)
    x = res.model_inputs
    fwd = []
    for _ in range(repeats):
        t = time.perf_counter()
        predictor.predict_batch(x)
        fwd.append(time.perf_counter() - t)
    t = time.perf_counter()
    build_dicom_outputs(res, predictor, with_gradcam=False)
    t_seg_sr = time.perf_counter() - t
    t = time.perf_counter()
    build_dicom_outputs(res, predictor, with_gradcam=True)
    t_all_outputs = time.perf_counter() - t
    series_s = statistics.median(times)
    return {
        "model": "ynet",
        "threads": threads,
        "tta": tta,
        "slices": slices,
        "slice_size": [int(series[0].Rows), int(series[0].Columns)],
        "model_input": int(predictor.image_size),
        "params": int(model.count_params()),
        "tensorflow_import_s": round(t_import, 3),
        "model_load_s": round(t_load, 3),
        "first_series_s_incl_tracing": round(t_first, 3),
        "series_inference_s": round(series_s, 3),
        "series_inference_min_s": round(min(times), 3),
        "per_slice_ms": round(series_s / slices * 1000, 2),
        "model_forward_s": round(statistics.median(fwd), 3),
        "seg_sr_build_s": round(t_seg_sr, 3),
        "seg_sr_gradcam_build_s": round(t_all_outputs, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_before_model_mb": round(rss_before, 1),
        "under_2s": series_s < 2.0,
    }


def main(argv: list[str] | None = None, runtime: AIRuntime | None = None) -> int:
    runtime = runtime or AIRuntime.from_environ()
    p = argparse.ArgumentParser("medcloud.ai benchmark --model ynet")
    p.add_argument("--slices", type=int, default=24)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=runtime.threads)
    p.add_argument("--weights", default=None)
    p.add_argument("--no-tta", action="store_true")
    p.add_argument("--model", default="ynet")
    p.add_argument("--data", nargs="*", default=None, help="ignored (accepted for a uniform CLI)")
    args = p.parse_args(argv)
    r = run_benchmark(
        args.slices,
        args.repeats,
        args.threads,
        args.weights or runtime.weights_for("ynet"),
        tta=not args.no_tta,
        data_dir=runtime.data_dir,
    )
    print(f"model load:            {r['model_load_s']:.3f} s (TensorFlow import {r['tensorflow_import_s']:.2f} s)")
    print(
        f"{r['slices']}-slice series:       {r['series_inference_s']:.3f} s median over {args.repeats} "
        f"(min {r['series_inference_min_s']:.3f} s; {r['threads']} threads; TTA {'on' if r['tta'] else 'off'})"
    )
    print(f"per slice:             {r['per_slice_ms']:.1f} ms (network alone {r['model_forward_s']:.3f} s per series)")
    print(
        f"SEG+SR build:          {r['seg_sr_build_s']:.3f} s; with Grad-CAM series {r['seg_sr_gradcam_build_s']:.3f} s"
    )
    print(f"peak memory (RSS):     {r['peak_rss_mb']:.0f} MB")
    sys.stdout.flush()
    print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
