"""The evidence pack's signature: OpenSSH's SSHSIG format (what `ssh-keygen -Y sign` writes), Ed25519, so an
auditor checks it with `ssh-keygen -Y verify` and nothing of ours.

The signing key is the team's own: an OpenSSH Ed25519 private key (`ssh-keygen -t ed25519`), a PKCS#8 PEM one, or
the audit trail's signer key (`moneypath audit keygen`, PRIVATE+KEY+NAME+ID+BASE64, read by
moneypath.protocol.audit.checkpoint). The format (openssh PROTOCOL.sshsig): the signature covers
"SSHSIG" || string(namespace) || string("") || string("sha512") || string(SHA-512 of the message).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

NAMESPACE = "moneypath-evidence"
MAGIC = b"SSHSIG"
HASH = "sha512"
KEY_TYPE = b"ssh-ed25519"
ARMOR_BEGIN, ARMOR_END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"


class SignatureError(Exception):
    """A key or a signature that cannot be used; one line."""


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, at: int) -> tuple[bytes, int]:
    if at + 4 > len(buf):
        raise SignatureError("the signature is cut short")
    (n,) = struct.unpack(">I", buf[at:at + 4])
    if at + 4 + n > len(buf):
        raise SignatureError("the signature is cut short")
    return buf[at + 4:at + 4 + n], at + 4 + n


def _signed_data(message: bytes, namespace: str) -> bytes:
    return (MAGIC + _string(namespace.encode()) + _string(b"") + _string(HASH.encode())
            + _string(hashlib.sha512(message).digest()))


@dataclass(frozen=True)
class SigningKey:
    identity: str  # the principal in allowed_signers
    private: object  # cryptography's Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_line(self) -> str:
        """The public key as OpenSSH writes it (`ssh-ed25519 AAAA... identity`)."""
        return f"{public_blob_text(self.public_raw)} {self.identity}"

    def sign(self, message: bytes, namespace: str = NAMESPACE) -> str:
        """The armored SSHSIG signature of `message`."""
        signature = self.private.sign(_signed_data(message, namespace))
        blob = (MAGIC + struct.pack(">I", 1) + _string(_public_blob(self.public_raw)) + _string(namespace.encode())
                + _string(b"") + _string(HASH.encode()) + _string(_string(KEY_TYPE) + _string(signature)))
        text = base64.b64encode(blob).decode()
        return "\n".join([ARMOR_BEGIN, *(text[i:i + 70] for i in range(0, len(text), 70)), ARMOR_END]) + "\n"


def _public_blob(raw: bytes) -> bytes:
    return _string(KEY_TYPE) + _string(raw)


def public_blob_text(raw: bytes) -> str:
    return f"{KEY_TYPE.decode()} {base64.b64encode(_public_blob(raw)).decode()}"


def allowed_signers(key: SigningKey, namespace: str = NAMESPACE) -> str:
    return f'{key.identity} namespaces="{namespace}" {public_blob_text(key.public_raw)}\n'


def load_signing_key(path: Path) -> SigningKey:
    """The team's Ed25519 private key from a file (OpenSSH, PEM or the audit trail's signer key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("PRIVATE+KEY+"):
        from moneypath.protocol.audit.checkpoint import CheckpointError, Signer

        try:
            signer = Signer(text)  # checks the name, the key id and the algorithm
        except CheckpointError as exc:
            raise SignatureError(f"{path}: {exc}") from None
        seed = base64.b64decode(text.split("+", 4)[4])[1:]
        return SigningKey(signer.name, Ed25519PrivateKey.from_private_bytes(seed))
    try:
        if "OPENSSH PRIVATE KEY" in text:
            private = load_ssh_private_key(data, password=None)
        else:
            private = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not an unencrypted Ed25519 private key (OpenSSH, PEM, or `moneypath audit "
                             f"keygen`'s signer key): {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SignatureError(f"{path}: the key is not Ed25519 (make one with ssh-keygen -t ed25519)")
    identity = Path(path).name.removesuffix(".key").removesuffix(".pem") or "signer"
    return SigningKey(identity, private)


def read_public_key(text: str) -> bytes:
    """The raw Ed25519 public key from an OpenSSH public key line, an allowed_signers line or the audit trail's
    verifier key (NAME+KEYID+BASE64)."""
    for line in text.splitlines():
        words = line.split()
        if "ssh-ed25519" in words:
            blob = base64.b64decode(words[words.index("ssh-ed25519") + 1])
            kind, at = _read_string(blob, 0)
            raw, _ = _read_string(blob, at)
            if kind == KEY_TYPE and len(raw) == 32:
                return raw
        elif line.count("+") >= 2 and not line.startswith("PRIVATE+KEY+"):
            from moneypath.protocol.audit.checkpoint import CheckpointError, Verifier

            try:
                Verifier(line)
            except CheckpointError as exc:
                raise SignatureError(str(exc)) from None
            return base64.b64decode(line.strip().split("+", 2)[2])[1:]
    raise SignatureError("no Ed25519 public key found (an ssh-ed25519 line, an allowed_signers line or a "
                         "NAME+KEYID+BASE64 verifier key)")


def verify(message: bytes, armored: str, public_raw: bytes, namespace: str = NAMESPACE) -> None:
    """Raise SignatureError unless `armored` is this key's SSHSIG signature of `message` in `namespace`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    lines = [line.strip() for line in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise SignatureError("not an SSH signature (-----BEGIN SSH SIGNATURE-----)")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError:
        raise SignatureError("the signature is not base64") from None
    if blob[:6] != MAGIC or blob[6:10] != struct.pack(">I", 1):
        raise SignatureError("not an SSHSIG version 1 signature")
    at = 10
    key_blob, at = _read_string(blob, at)
    signed_ns, at = _read_string(blob, at)
    _reserved, at = _read_string(blob, at)
    hash_alg, at = _read_string(blob, at)
    sig_blob, at = _read_string(blob, at)
    if key_blob != _public_blob(public_raw):
        raise SignatureError("it was signed by another key")
    if signed_ns.decode() != namespace:
        raise SignatureError(f"it was signed for namespace {signed_ns.decode()!r}, not {namespace!r}")
    if hash_alg.decode() not in ("sha512", "sha256"):
        raise SignatureError(f"unknown hash {hash_alg.decode()!r}")
    kind, at2 = _read_string(sig_blob, 0)
    signature, _ = _read_string(sig_blob, at2)
    digest = hashlib.new(hash_alg.decode(), message).digest()
    data = (MAGIC + _string(signed_ns) + _string(b"") + _string(hash_alg) + _string(digest))
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except InvalidSignature:
        raise SignatureError("the signature does not verify: SHA256SUMS was changed or the signature forged") \
            from None
    if kind != KEY_TYPE:
        raise SignatureError(f"unexpected signature type {kind.decode()!r}")
