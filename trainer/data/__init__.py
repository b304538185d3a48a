"""Training data: the clip file format, manifests, preparation and synthetic clips."""
