"""Random tokens for links and API access. Only a hash is stored, so a database leak reveals no usable token."""

import hashlib
import secrets


def new_token(prefix: str = "") -> str:
    """256 bits of randomness, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
