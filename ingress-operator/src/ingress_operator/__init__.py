"""HAProxy routing to each guest cluster API and ingress."""
