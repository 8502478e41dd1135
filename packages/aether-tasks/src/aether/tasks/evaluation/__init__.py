"""tasks/evaluation."""
