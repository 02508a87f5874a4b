"""The IngressConfig's resources, one module each, in creation order: claim → routes → served."""
