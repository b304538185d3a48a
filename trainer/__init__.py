"""trainer: dataset preparation, two-stage training and evaluation over mimo_core."""
