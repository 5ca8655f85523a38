"""``GET /api/v1/eeg/files/{file_id}/patient``: the decrypted patient identifiers of a file,
for the user who uploaded it only.

Another user's file answers 404 exactly as a file that does not exist. The answer is marked
``Cache-Control: no-store``; nothing of it is logged.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.dependencies import ConnDep
from api.errors import ApiError, ErrorAnswer, NotFound
from api.routers.eeg import unknown_file
from api.security import CurrentUserDep
from connectors.db.identities import owned_identity
from connectors.db.requests import is_uuid
from connectors.phi import KeyRing, PhiDecryptionError, open_identity

router = APIRouter(prefix="/api/v1/eeg/files", tags=["patient"])


class PatientAnswer(BaseModel):
    """The identification fields of the file's header, as they were before it was stored
    (EDF+ subfields; ``X`` or absent subfields are null)."""

    file_id: str
    patient_code: str | None
    name: str | None
    birthdate: str | None
    sex: str | None
    hospital_code: str | None
    technician: str | None
    equipment: str | None
    patient_field: str
    recording_field: str


@router.get(
    "/{file_id}/patient",
    responses={
        401: {"model": ErrorAnswer, "description": "no valid access token"},
        404: {"model": ErrorAnswer, "description": "no such file of this user, or no identity"},
    },
)
async def file_patient(
    file_id: str, user: CurrentUserDep, conn: ConnDep, request: Request, response: Response
) -> PatientAnswer:
    """The patient identifiers of one of the user's files, decrypted."""
    owned = await owned_identity(conn, file_id, user.user_id) if is_uuid(file_id) else None
    if owned is None:
        raise unknown_file(file_id)
    if owned.sealed is None:
        raise NotFound(
            "patient_identity_not_found",
            f"file {file_id} has no stored patient identity (it was stored without one)",
        )
    ring: KeyRing = request.app.state.phi_keys
    try:
        identity = open_identity(owned.sealed, file_id, ring)
    except PhiDecryptionError as exc:
        raise ApiError(500, "patient_identity_unreadable", str(exc)) from None
    response.headers["Cache-Control"] = "no-store"
    return PatientAnswer(
        file_id=str(owned.file_id),
        **vars(identity.patient),
        patient_field=identity.patient_field,
        recording_field=identity.recording_field,
    )
