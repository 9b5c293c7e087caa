"""Training: learn a backdrop generator from a folder of photos (imports generator)."""
