"""The REST query layer (FastAPI)."""
