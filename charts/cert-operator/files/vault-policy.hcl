# Vault policy for the cert-operator: only the pki-<cluster> mounts it manages, and its own token.
# Vault globs match only at the end of a path, so "pki-*" cannot be narrowed further inside those mounts;
# nothing outside them is reachable (no other mount, no sys/ path but the pki-* mounts' own settings).

# Enable, read, tune and disable the cluster mounts (sys/mounts/pki-<cluster>, .../tune).
path "sys/mounts/pki-*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Root CAs (issuers and keys), roles, issuance, revocation and tidying inside the cluster mounts.
path "pki-*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Renew and inspect its own token (also needed when the auth role sets token_no_default_policy).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
