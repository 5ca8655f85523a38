"""Patient identifiers: sealed and opened (AES-256-GCM, key rotation, tampering refused),
scrubbed from EDF/BDF headers and annotations in place, and the API's refusal to run in
production with development keys."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from api.app import create_app
from connectors.deidentify import identifier_patterns, scrub_edf_header, scrub_text
from connectors.phi import (
    HeaderIdentity,
    KeyRing,
    PhiDecryptionError,
    PhiKeyError,
    UnknownPhiKey,
    open_identity,
    patient_ref_of,
    seal_identity,
)
from connectors.settings import (
    DEV_PHI_KEY_B64,
    InsecureSettingsError,
    Settings,
    development_secrets,
)
from processors.io import read_edf_header, read_recording
from processors.types import PatientIdentity
from tests.phi_files import (
    NAME,
    SECRET_WORDS,
    readable_identifiers,
    write_identified_edf,
)

FILE_ID = uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100")
IDENTITY = HeaderIdentity(
    patient=PatientIdentity(
        patient_code="MRN-778899", name=NAME, birthdate="01-MAR-1970", sex="M",
        hospital_code="ADM-STMARY", technician="TechWanda", equipment="AmpX",
    ),
    patient_field="MRN-778899 M 01-MAR-1970 Zebulon_Quixote",
    recording_field="Startdate 06-MAY-2024 ADM-STMARY TechWanda AmpX",
)  # fmt: skip


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _ring(spec: dict[str, str], active: str) -> KeyRing:
    return KeyRing.parse(",".join(f"{k}:{v}" for k, v in spec.items()), active)


# --- sealing --------------------------------------------------------------------------------


def test_seal_and_open_round_trip() -> None:
    ring = _ring({"k1": _key()}, "k1")
    sealed = seal_identity(IDENTITY, FILE_ID, ring)
    assert sealed.key_id == "k1" and len(sealed.nonce) == 12
    assert b"Zebulon" not in sealed.ciphertext and b"MRN" not in sealed.ciphertext
    assert open_identity(sealed, FILE_ID, ring) == IDENTITY
    assert open_identity(sealed, str(FILE_ID), ring) == IDENTITY
    assert seal_identity(IDENTITY, FILE_ID, ring).nonce != sealed.nonce  # a nonce each time


def test_rotation_opens_old_rows_and_seals_new_ones_under_the_active_key() -> None:
    k1, k2 = _key(), _key()
    old = seal_identity(IDENTITY, FILE_ID, _ring({"k1": k1}, "k1"))
    rotated = _ring({"k1": k1, "k2": k2}, "k2")
    assert open_identity(old, FILE_ID, rotated) == IDENTITY
    new = seal_identity(IDENTITY, FILE_ID, rotated)
    assert new.key_id == "k2"
    assert open_identity(new, FILE_ID, _ring({"k2": k2}, "k2")) == IDENTITY
    with pytest.raises(UnknownPhiKey, match="'k1', which BRRR_PHI_KEYS no longer holds"):
        open_identity(old, FILE_ID, _ring({"k2": k2}, "k2"))


def test_tampered_moved_or_relabelled_identities_do_not_open() -> None:
    ring = _ring({"k1": _key(), "k2": _key()}, "k1")
    sealed = seal_identity(IDENTITY, FILE_ID, ring)
    flipped = bytearray(sealed.ciphertext)
    flipped[3] ^= 0x01
    cases = [
        (replace(sealed, ciphertext=bytes(flipped)), FILE_ID),
        (replace(sealed, ciphertext=sealed.ciphertext[:-1]), FILE_ID),
        (replace(sealed, nonce=bytes(12)), FILE_ID),
        (replace(sealed, key_id="k2"), FILE_ID),
        (sealed, uuid.uuid4()),  # another file's row
    ]
    for bad, file_id in cases:
        with pytest.raises(PhiDecryptionError, match="does not verify"):
            open_identity(bad, file_id, ring)
    with pytest.raises(PhiDecryptionError, match="does not read"):
        open_identity(replace(sealed, scheme="rot13/v1"), FILE_ID, ring)


def test_patient_reference_of_the_code_else_the_name_and_birth_date() -> None:
    key = b"deployment-patient-ref-key-0123"
    ref = patient_ref_of(IDENTITY.patient, key)
    assert ref is not None and len(ref) == 64 and "MRN" not in ref
    assert ref == patient_ref_of(PatientIdentity(patient_code="mrn-778899"), key)
    assert ref != patient_ref_of(IDENTITY.patient, b"another-patient-ref-key-0123")
    by_name = patient_ref_of(PatientIdentity(name=NAME, birthdate="01-MAR-1970"), key)
    assert by_name not in (None, ref)
    assert patient_ref_of(PatientIdentity(), key) is None


def test_key_ring_errors_say_what_to_fix() -> None:
    good = _key()
    cases = {
        "k1": "has no ':'",
        "k1:not base64!": "is not base64",
        f"k1:{base64.b64encode(b'short').decode()}": "AES-256 needs 32",
        f"k1:{good},k1:{good}": "twice",
        f"bad id:{good}": "not allowed",
    }
    for spec, message in cases.items():
        with pytest.raises(PhiKeyError, match=message):
            KeyRing.parse(spec, "k1")
    with pytest.raises(PhiKeyError, match="BRRR_PHI_ACTIVE_KEY is 'k9'"):
        KeyRing.parse(f"k1:{good}", "k9")
    assert good not in repr(KeyRing.parse(f"k1:{good}", "k1"))


# --- scrubbing ------------------------------------------------------------------------------


def test_scrub_blanks_header_signal_fields_and_annotations(tmp_path: Path) -> None:
    path = tmp_path / "patient.edf"
    data_uv = write_identified_edf(path)
    before = read_recording(path)
    assert readable_identifiers(path.read_bytes()) == SECRET_WORDS
    size = path.stat().st_size

    identity = scrub_edf_header(path)

    assert identity.patient == before.patient
    assert identity.patient.name == NAME and identity.patient.patient_code == "MRN-778899"
    assert "Zebulon_Quixote" in identity.patient_field
    assert "ADM-STMARY" in identity.recording_field
    raw = path.read_bytes()
    assert readable_identifiers(raw) == [] and path.stat().st_size == size
    header = read_edf_header(path)
    assert header.patient_field == "X X X X"
    assert header.recording_field == "Startdate 06-MAY-2024 X X X"  # the date is kept

    after = read_recording(path)
    assert after.patient.is_empty()
    assert after.ch_names == before.ch_names and after.start_time == before.start_time
    np.testing.assert_allclose(after.raw.get_data() * 1e6, data_uv, atol=0.05)
    annotations = after.raw.annotations
    assert list(annotations.onset) == [1.5, 4.0, 7.25]
    assert list(annotations.duration) == [0.0, 2.0, 0.0]
    assert annotations.description[0] == "X" * len(NAME) + " awake, eyes closed"
    assert annotations.description[1] == "seizure"  # clinical text stays
    assert scrub_edf_header(path).patient.is_empty()  # scrubbing twice changes nothing more


def test_scrub_bdf_in_place(real_data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "sleep.bdf"
    shutil.copy(real_data_dir / "openbci_sleep_125hz.bdf", path)
    before = read_recording(path)
    scrub_edf_header(path)
    assert read_edf_header(path).patient_field == "X X X X"
    after = read_recording(path)
    assert after.ch_names == before.ch_names
    np.testing.assert_array_equal(after.raw.get_data(), before.raw.get_data())


def test_scrub_text_blanks_identifiers_in_a_file_name() -> None:
    assert scrub_text("Quixote_Zebulon_MRN-778899_eeg.edf", IDENTITY) == (
        "XXXXXXX_XXXXXXX_XXXXXXXXXX_eeg.edf"
    )
    assert scrub_text("routine.edf", IDENTITY) == "routine.edf"


def test_plain_edf_patient_field_is_searched_word_by_word() -> None:
    plain = HeaderIdentity(
        PatientIdentity(patient_code="John Smith 123456"), "John Smith 123456", ""
    )
    found = {p.pattern for p in identifier_patterns(plain)}
    assert {b"John", b"Smith", b"123456", b"John\\ Smith\\ 123456"} <= found


# --- production refuses development keys ---------------------------------------------------


def _production(**overrides: str) -> Settings:
    secrets = {
        "jwt_secret": "production-jwt-secret-" + "a" * 40,
        "patient_ref_key": "production-patient-ref-key-0123456789",
        "phi_keys": f"prod1:{_key()}",
        "phi_active_key": "prod1",
    }
    return Settings(environment="production", **{**secrets, **overrides})


def test_production_refuses_development_or_missing_secrets() -> None:
    with pytest.raises(InsecureSettingsError) as refused:
        create_app(Settings(environment="production"))
    for name in ("BRRR_JWT_SECRET", "BRRR_PATIENT_REF_KEY", "BRRR_PHI_KEYS", "BRRR_PHI_ACTIVE_KEY"):
        assert name in str(refused.value)
    with pytest.raises(InsecureSettingsError, match="set BRRR_JWT_SECRET "):
        create_app(_production(jwt_secret=""))
    with pytest.raises(InsecureSettingsError, match="set BRRR_PHI_KEYS "):
        create_app(_production(phi_keys=f"prod1:{_key()},old:{DEV_PHI_KEY_B64}"))
    with pytest.raises(ValueError, match="BRRR_JWT_SECRET has 5 characters"):
        create_app(_production(jwt_secret="short"))
    with pytest.raises(PhiKeyError, match="BRRR_PHI_ACTIVE_KEY is 'prod2'"):
        create_app(_production(phi_active_key="prod2"))
    app = create_app(_production())
    assert app.state.phi_keys.active == "prod1"
    assert development_secrets(_production()) == []


def test_development_says_it_uses_development_keys(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="connectors.settings"):
        create_app(Settings())
    assert "uses development keys for BRRR_JWT_SECRET" in caplog.text
