"""Per-cluster root CA in Vault PKI and a certificate per component."""
