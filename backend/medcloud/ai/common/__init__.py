"""Parts every MedCloud model shares (no Django; TensorFlow imported lazily by the functions that need it).

- ``dicom_io``: pixel values and geometry of a DICOM series (sorting, slice spacing, patient coordinates).
- ``preprocessing``: generic per-slice intensity normalisation, pad to square, resize to and from the model.
- ``manifest``: the ``manifest.csv`` data sets of ``../shared/data`` (rows, images, masks).
- ``metrics``: NumPy metrics (accuracy, macro F1, confusion matrix, pooled Dice and IoU).
- ``dicom_outputs``: highdicom builders of DICOM SEG and Grad-CAM secondary captures.
- ``gradcam``: batched Grad-CAM of a Keras classifier and its RGB overlay.
- ``synthetic``: a DICOM MR series built from 2-D images (tests and benchmarks).
"""
