"""Webhook deliveries signed as GitHub signs them, the corpus payloads they carry, and a fresh
key pair for a test App."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import corpora

SECRET = "test-webhook-secret-0123456789"
WEBHOOKS = corpora.ROOT / "github_webhooks"


def payload(name: str) -> dict[str, Any]:
    """A webhook payload from the corpus, e.g. ``pull_request.opened.2``."""
    for folder in (WEBHOOKS / "payloads", *sorted((WEBHOOKS / "payloads_extra").iterdir())):
        path = folder / f"{name}.json"
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
    raise FileNotFoundError(name)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, *, delivery: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
    }


def generate_key_pair() -> tuple[str, str]:
    """A fresh 2048-bit RSA key for a test App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
