"""Shipped model weights for denoise (data-only package; see README.md and manifest.json)."""
