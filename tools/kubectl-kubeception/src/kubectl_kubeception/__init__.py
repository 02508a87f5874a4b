"""``kubectl kubeception``: a team's guest clusters on a kubeception mother, without raw YAML or admin credentials.

Modules: :mod:`.mother` (the API, errors a person can act on), :mod:`.clusters` (what a KVMConfig or AWSConfig says,
the table), :mod:`.tree` (``describe``), :mod:`.manifests` (``create``, ``scale``, ``upgrade``), :mod:`.kubeconfigs`
(reading and merging kubeconfig files), :mod:`.login` (key, CSR, the GuestCredentialRequest), :mod:`.cli`.
"""
