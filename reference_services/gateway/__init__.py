"""The API gateway: the single entry of CRM->MES and external clients under /api/v1."""
