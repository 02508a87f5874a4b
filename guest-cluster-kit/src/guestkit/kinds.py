"""The kinds a guest cluster's PKI is asked of cert-operator in: declared once here, for the operators that make
them (kvm-, aws-operator) and the one that reconciles them (cert-operator). Their CRDs are the contract between
operators, not their Python packages."""

from __future__ import annotations

from operatorkit import Kind

CA_CONFIG = Kind("kubeception.io/v1alpha1", "CAConfig", "caconfigs")
CERT_CONFIG = Kind("kubeception.io/v1alpha1", "CertConfig", "certconfigs")
