"""annotate/synthetic."""
