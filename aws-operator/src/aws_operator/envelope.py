"""Envelope encryption with the cluster's KMS key: KMS encrypts at most 4 KB, and a certificate with its key and
CA is more. Each object gets a fresh 256-bit data key from KMS (GenerateDataKey); the content is sealed with it
locally (AES-GCM, the object's encryption context as associated data) and only the data key's ciphertext is
stored beside it. Decrypting needs ``kms:Decrypt`` on the cluster's key with the same context — what the
instances' roles are granted — so a copy of the object under another name does not open."""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aws_operator.aws import call

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

FORMAT = "kubeception-envelope-v1"


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def seal(kms: KMSClient, key_id: str, plaintext: bytes, context: dict[str, str]) -> bytes:
    data_key = call(
        "kms:GenerateDataKey", kms.generate_data_key, KeyId=key_id, KeySpec="AES_256", EncryptionContext=context
    )
    nonce = os.urandom(12)
    sealed = AESGCM(bytes(data_key["Plaintext"])).encrypt(nonce, plaintext, _aad(context))
    envelope = {
        "format": FORMAT,
        "key": base64.b64encode(bytes(data_key["CiphertextBlob"])).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return json.dumps(envelope, sort_keys=True).encode()


def open_(kms: KMSClient, blob: bytes, context: dict[str, str]) -> tuple[bytes, str]:
    """The plaintext and the KMS key that opened it (what an instance's decrypt unit does)."""
    envelope = json.loads(blob)
    if envelope.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} object")
    answer = call(
        "kms:Decrypt",
        kms.decrypt,
        CiphertextBlob=base64.b64decode(envelope["key"]),
        EncryptionContext=context,
    )
    plain = AESGCM(bytes(answer["Plaintext"])).decrypt(
        base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ciphertext"]), _aad(context)
    )
    return plain, str(answer["KeyId"])
