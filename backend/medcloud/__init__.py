"""MedCloud: a privacy-preserving medical imaging platform."""
