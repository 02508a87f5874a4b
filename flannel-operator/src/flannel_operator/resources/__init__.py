"""The flannel-operator's resources, one module per step, in creation order (deletion runs them backwards)."""
