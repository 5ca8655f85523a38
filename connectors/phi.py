"""Patient identifiers, encrypted: AES-256-GCM under a key ring with rotation.

What is sealed is a :class:`HeaderIdentity`: the :class:`~processors.types.PatientIdentity`
read from an EDF/BDF header (code, name, birth date, sex, hospital code, technician,
equipment) and the two header fields as they were written (the patient field and the
recording field's free text), before :func:`connectors.deidentify.scrub_edf_header` blanked
them in the file.

Each sealed identity (:class:`SealedIdentity`) names the key that sealed it (``key_id``) and
has a random 96-bit nonce of its own; the associated data binds it to its file id, so a row
copied to another file, or a changed byte anywhere, does not open (the GCM tag fails).
Keys live in ``BRRR_PHI_KEYS`` (``id:base64,...``, 32 bytes each) and new identities are
sealed under ``BRRR_PHI_ACTIVE_KEY``: to rotate, add a key and make it active, keep the old
ones until ``brrr phi reseal`` (:func:`connectors.db.identities.reseal_identities`) has
moved every row.

Nothing here logs an identifier; errors name keys and files, never a patient.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.db.jobs import patient_reference
from connectors.settings import Settings
from processors.types import PatientIdentity

SCHEME = "aes-256-gcm/v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class PhiKeyError(ValueError):
    """``BRRR_PHI_KEYS`` or ``BRRR_PHI_ACTIVE_KEY`` cannot be used; the message says how to
    fix it."""


class PhiDecryptionError(Exception):
    """A sealed identity that does not open: changed, moved to another file, or sealed under
    another key."""


class UnknownPhiKey(PhiDecryptionError):
    """A sealed identity names a key that the key ring no longer has."""


@dataclass(frozen=True)
class HeaderIdentity:
    """What a file's header said about the patient, before it was scrubbed."""

    patient: PatientIdentity
    patient_field: str
    recording_field: str

    def identifiers(self) -> list[str]:
        """Every non-empty identifying text (for checks that none is left readable)."""
        values = [*asdict(self.patient).values(), self.patient_field, self.recording_field]
        return [v for v in values if v and v != "X"]


@dataclass(frozen=True)
class SealedIdentity:
    """An encrypted :class:`HeaderIdentity`, as stored (``patient_identities``)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes  # with its 16-byte GCM tag
    scheme: str = SCHEME


@dataclass(frozen=True)
class KeyRing:
    """The PHI keys by id, and the one that seals new identities."""

    active: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not KEY_ID_RE.fullmatch(key_id):
                raise PhiKeyError(
                    f"PHI key id {key_id!r} is not allowed: use 1 to 64 letters, digits, . _ -"
                )
            if len(key) != KEY_BYTES:
                raise PhiKeyError(
                    f"PHI key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}: set "
                    "it to the base64 of 32 random bytes in BRRR_PHI_KEYS"
                )
        if self.active not in self.keys:
            raise PhiKeyError(
                f"BRRR_PHI_ACTIVE_KEY is {self.active!r}, which BRRR_PHI_KEYS does not hold "
                f"(it holds {', '.join(sorted(self.keys)) or 'nothing'}): add it or choose one"
            )

    @classmethod
    def parse(cls, spec: str, active: str) -> KeyRing:
        """The ring of ``"id:base64,id:base64"`` with ``active`` sealing.

        Raises
        ------
        PhiKeyError
            A malformed entry, a key id twice, a key that is not 32 bytes of base64, or an
            active id that the ring does not hold.
        """
        keys: dict[str, bytes] = {}
        for entry in (e.strip() for e in spec.split(",")):
            if not entry:
                continue
            key_id, sep, b64 = entry.partition(":")
            if not sep:
                raise PhiKeyError(
                    f"BRRR_PHI_KEYS entry {key_id[:8]!r}... has no ':': write id:base64,..."
                )
            if key_id in keys:
                raise PhiKeyError(f"BRRR_PHI_KEYS names key {key_id!r} twice: keep one")
            try:
                keys[key_id] = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise PhiKeyError(
                    f"BRRR_PHI_KEYS key {key_id!r} is not base64: set it to the base64 of 32 "
                    "random bytes"
                ) from None
        return cls(active=active, keys=keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The ring of ``BRRR_PHI_KEYS`` and ``BRRR_PHI_ACTIVE_KEY``."""
        return cls.parse(settings.phi_keys.get_secret_value(), settings.phi_active_key)


def seal_identity(
    identity: HeaderIdentity, file_id: str | uuid.UUID, ring: KeyRing
) -> SealedIdentity:
    """Encrypt ``identity`` for the file ``file_id`` under the ring's active key."""
    nonce = os.urandom(NONCE_BYTES)
    key_id = ring.active
    ciphertext = AESGCM(ring.keys[key_id]).encrypt(
        nonce, _encode(identity), _associated_data(file_id, key_id)
    )
    return SealedIdentity(key_id=key_id, nonce=nonce, ciphertext=ciphertext)


def open_identity(
    sealed: SealedIdentity, file_id: str | uuid.UUID, ring: KeyRing
) -> HeaderIdentity:
    """Decrypt a sealed identity of the file ``file_id`` with the key its row names.

    Raises
    ------
    UnknownPhiKey
        The ring has no key of that id.
    PhiDecryptionError
        The scheme is unknown, or the tag does not verify (changed bytes, another file's
        row, or another key under the same id).
    """
    if sealed.scheme != SCHEME:
        raise PhiDecryptionError(
            f"the patient identity of file {file_id} is sealed with {sealed.scheme!r}, which "
            f"this version does not read (it reads {SCHEME})"
        )
    key = ring.keys.get(sealed.key_id)
    if key is None:
        raise UnknownPhiKey(
            f"the patient identity of file {file_id} is sealed under PHI key "
            f"{sealed.key_id!r}, which BRRR_PHI_KEYS no longer holds: add that key back "
            "(retired keys stay in the ring until every row is resealed)"
        )
    try:
        plaintext = AESGCM(key).decrypt(
            sealed.nonce, sealed.ciphertext, _associated_data(file_id, sealed.key_id)
        )
    except InvalidTag:
        raise PhiDecryptionError(
            f"the patient identity of file {file_id} does not verify under PHI key "
            f"{sealed.key_id!r}: the stored bytes were changed, belong to another file, or "
            "the key under that id was replaced"
        ) from None
    return _decode(plaintext)


def patient_ref_of(patient: PatientIdentity, key: bytes) -> str | None:
    """The patient's opaque reference (``recordings.patient_ref``, ``uploaded_files
    .patient_ref``): the keyed HMAC (:func:`connectors.db.jobs.patient_reference`, key
    ``settings.patient_ref_key.encode()``) of the patient code, or of name and birth date when the
    header has no code; None when the header names nobody."""
    identifier = patient.patient_code or " ".join(v for v in (patient.name, patient.birthdate) if v)
    return patient_reference(identifier, key) if identifier else None


def _associated_data(file_id: str | uuid.UUID, key_id: str) -> bytes:
    return f"brrr/patient-identity/{SCHEME}/{uuid.UUID(str(file_id))}/{key_id}".encode()


def _encode(identity: HeaderIdentity) -> bytes:
    return json.dumps(asdict(identity), sort_keys=True, separators=(",", ":")).encode()


def _decode(plaintext: bytes) -> HeaderIdentity:
    data = json.loads(plaintext)
    return HeaderIdentity(
        patient=PatientIdentity(**data["patient"]),
        patient_field=data["patient_field"],
        recording_field=data["recording_field"],
    )
