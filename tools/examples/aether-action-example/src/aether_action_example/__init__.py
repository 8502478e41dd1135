"""Example third-party AETHER plugin: a Plücker-coordinate raymap."""
