"""How a desktop app written in Python checks its Gumgate activation token offline, with PyJWT.

The app keeps the token from its last successful activate/validate and the JWKS from
/.well-known/jwks.json (refreshed whenever it is online). Offline it trusts the token when the
EdDSA signature verifies with the JWKS key named by the token's kid, aud is its product id, iss
is "gumgate", exp has not passed, and lic/fp are the hashes of its own license key and machine
fingerprint (so a token copied from another machine or license is worthless).

    pip install "pyjwt[crypto]"
    python verify_token.py TOKEN JWKS_FILE PRODUCT_ID LICENSE_KEY FINGERPRINT

Exit 0 when valid, 1 when not, 2 on usage errors.
"""

import hashlib
import json
import sys

import jwt


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def verify_offline(token, jwks, product_id, license_key, fingerprint):
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "EdDSA":
        raise ValueError("only EdDSA tokens are accepted")
    keys = {k["kid"]: k for k in jwks["keys"]}
    jwk = keys.get(header.get("kid"))
    if jwk is None:
        raise ValueError("the token's key is not published")
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=product_id, issuer="gumgate")
    if claims["lic"] != sha256_hex("gumgate:license:" + license_key.strip().upper()):
        raise ValueError("the token is for another license")
    if claims["fp"] != sha256_hex("gumgate:fingerprint:" + fingerprint):
        raise ValueError("the token is for another machine")
    if claims["code"] != "VALID":
        raise ValueError("the license is not valid: " + claims["code"])
    return claims


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    token, jwks_file, product_id, license_key, fingerprint = argv
    with open(jwks_file) as f:
        jwks = json.load(f)
    try:
        claims = verify_offline(token, jwks, product_id, license_key, fingerprint)
    except (ValueError, jwt.PyJWTError) as e:
        print(f"not valid: {e}", file=sys.stderr)
        return 1
    print(f"valid: activation {claims['sub']} of {claims['aud']}, {claims['seats']} seats, until {claims['exp']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
