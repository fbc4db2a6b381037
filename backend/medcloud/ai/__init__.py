"""MedCloud AI models (no Django, TensorFlow imported lazily by the sub-modules that need it)."""
