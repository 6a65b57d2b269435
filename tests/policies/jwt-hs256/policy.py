"""Verifies `authorization: Bearer <jwt>` with PyJWT (HS256)."""

import jwt

from sdk.policy import ImmediateResponse, UpstreamRequestModifications


def on_request(ctx, params):
    token = ctx.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        claims = jwt.decode(token, params["secret"], algorithms=["HS256"])
    except jwt.InvalidTokenError as error:
        return ImmediateResponse(status_code=401, body=f"{type(error).__name__}: {error}".encode())
    return UpstreamRequestModifications(set_headers={"x-jwt-sub": str(claims["sub"])})
