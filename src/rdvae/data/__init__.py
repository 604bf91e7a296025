"""Datasets and splits (paper section 4.1-4.2)."""
