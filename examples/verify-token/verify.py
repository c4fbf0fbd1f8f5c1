"""Verify a scangate token in Python with PyJWT (pip install "PyJWT[crypto]").

    python verify.py <token> <public_url> <audience> [<jwks_url>]

<jwks_url> defaults to <public_url>/.auth/jwks.json (give it when the backend reaches the
gateway by another address than browsers do).

Prints the verified claims as JSON, or exits 1 with the reason. A backend does the same
with the token from `Authorization: Bearer <token>`.
"""
import json
import sys

import jwt  # PyJWT


def verify(token: str, public_url: str, audience: str, jwks_url: str = "") -> dict:
    # PyJWKClient fetches and caches the gateway's keys and picks the one the token's `kid`
    # names.
    jwks = jwt.PyJWKClient(jwks_url or f"{public_url}/.auth/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],  # never let the token choose its algorithm
        issuer=public_url,
        audience=audience,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )


if __name__ == "__main__":
    token, public_url, audience = sys.argv[1:4]
    jwks_url = sys.argv[4] if len(sys.argv) > 4 else ""
    try:
        print(json.dumps(verify(token, public_url, audience, jwks_url)))
    except jwt.PyJWTError as e:
        print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
