"""The cert-operator's resources, one module per step."""
