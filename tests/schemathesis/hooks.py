"""Schemathesis hooks for Troupe's property-based API run (see `run` beside this file)."""

import os
import uuid

import schemathesis

# The run's own account and session (`run` exports them): every operation
# but sign-out uses their access token, so deleting either would turn the
# rest of the run into 401s.
SPARED = {
    "/api/v1/users/{id}": os.environ.get("TROUPE_RUN_USER_ID"),
    "/api/v1/auth/sessions/{id}": os.environ.get("TROUPE_RUN_SESSION_ID"),
}


@schemathesis.hook
def before_call(context, case, kwargs):
    send_headers_as_utf8(case)
    spare_the_runs_own_account(case)


def send_headers_as_utf8(case):
    """Send generated header values that are not ASCII as UTF-8.

    Schemathesis draws header values from Latin-1, and `requests` sends them one byte per
    character, so "é" arrives as the lone byte 0xE9, which is not UTF-8. Spin answers such a
    request with an empty 500 before any component runs (it requires header values to be
    UTF-8), and troupe-host does as Spin does: that is the platform's behaviour, not the API's.
    Clients that put non-ASCII text in a header send UTF-8, and so does this run; the
    components still see every non-ASCII value.
    """
    for name, value in list((case.headers or {}).items()):
        if isinstance(value, str) and not value.isascii():
            case.headers[name] = value.encode("utf-8").decode("latin-1")


def spare_the_runs_own_account(case):
    """Delete some other (most likely absent) id instead of the run's own user or session.

    Schemathesis reuses values it saw in responses (the caller's id in GET /auth/me, its
    session in GET /auth/sessions), so it does try to delete them.
    """
    if case.method.upper() != "DELETE":
        return
    spared = SPARED.get(case.operation.path)
    if spared and (case.path_parameters or {}).get("id") == spared:
        case.path_parameters["id"] = str(uuid.uuid4())
