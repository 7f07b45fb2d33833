"""Request plumbing of the CRM API beyond the platform's: the background submitter."""

from typing import Annotated

from fastapi import Depends, Request

from reference_services.crm.service_layer.submitter import Submitter


async def submitter(request: Request) -> Submitter:
    found: Submitter = request.app.state.submitter
    return found


SubmitterDep = Annotated[Submitter, Depends(submitter)]
