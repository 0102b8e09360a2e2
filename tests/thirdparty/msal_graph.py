#!/usr/bin/env python3
"""Checks the lab's Entra and Graph with Microsoft's own MSAL for Python (not part of `cargo test`).

Usage:
    pip install msal requests
    exchange-connector-lab serve --generate users=200,devices=1500,seed=1 --endpoints-file /tmp/lab/endpoints.json &
    python3 tests/thirdparty/msal_graph.py /tmp/lab/endpoints.json

It signs in with a ConfidentialClientApplication twice (client secret, then the lab's certificate),
with instance discovery off and the lab's CA as the only extra trust, then lists every managed device by
following @odata.nextLink verbatim. Exit status 0 when everything matched.
"""

import json
import sys

import msal
import requests


def main(endpoints_path: str) -> int:
    with open(endpoints_path, encoding="utf-8") as f:
        e = json.load(f)
    authority = f"{e['login_base']}/{e['tenant_id']}"
    session = requests.Session()
    session.verify = e["ca_cert_pem"]  # trust the lab CA; verification stays on
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would override session.verify; the lab is on
    # loopback, so environment proxies and bundles are not wanted either.
    session.trust_env = False
    scopes = ["https://graph.microsoft.com/.default"]

    app = msal.ConfidentialClientApplication(
        e["client_id"],
        client_credential=e["client_secret"],
        authority=authority,
        instance_discovery=False,
        http_client=session,
    )
    result = app.acquire_token_for_client(scopes=scopes)
    if "access_token" not in result:
        print("secret flow FAILED:", {k: result.get(k) for k in ("error", "error_description", "error_codes")})
        return 1
    print(f"secret flow: token ok, expires_in={result.get('expires_in')}, source={result.get('token_source')}")

    # A wrong secret must come back as Entra's invalid_client / AADSTS7000215, which MSAL surfaces as is.
    bad = msal.ConfidentialClientApplication(
        e["client_id"],
        client_credential="wrong-secret",
        authority=authority,
        instance_discovery=False,
        http_client=session,
    ).acquire_token_for_client(scopes=scopes)
    print(f"wrong secret: error={bad.get('error')}, error_codes={bad.get('error_codes')}")
    if bad.get("error") != "invalid_client" or 7000215 not in (bad.get("error_codes") or []):
        return 1

    # Certificate credential: MSAL builds and signs the client assertion itself.
    cert_result = None
    try:
        from cryptography.hazmat.primitives.serialization import pkcs12, Encoding, PrivateFormat, NoEncryption

        with open(e["client_certificate_pfx"], "rb") as f:
            key, cert, _ = pkcs12.load_key_and_certificates(f.read(), e["client_certificate_password"].encode())
        private_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        public_pem = cert.public_bytes(Encoding.PEM).decode()
        from cryptography.hazmat.primitives import hashes

        thumbprint = cert.fingerprint(hashes.SHA1()).hex()
        cert_app = msal.ConfidentialClientApplication(
            e["client_id"],
            client_credential={"private_key": private_pem, "thumbprint": thumbprint, "public_certificate": public_pem},
            authority=authority,
            instance_discovery=False,
            http_client=session,
        )
        cert_result = cert_app.acquire_token_for_client(scopes=scopes)
        if "access_token" not in cert_result:
            print("certificate flow FAILED:", {k: cert_result.get(k) for k in ("error", "error_description")})
            return 1
        print("certificate flow: token ok")
    except ImportError:
        print("certificate flow: skipped (cryptography not installed)")

    token = result["access_token"]
    url = f"{e['graph_base']}/v1.0/deviceManagement/managedDevices?$top=500&$select=id,easDeviceId,complianceState"
    ids, pages = set(), 0
    while url:
        r = session.get(url, headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 200:
            print("Graph FAILED:", r.status_code, r.text[:500])
            return 1
        page = r.json()
        pages += 1
        ids.update(d["id"] for d in page["value"])
        url = page.get("@odata.nextLink")
    print(f"Graph managedDevices: {len(ids)} devices in {pages} pages")

    groups = e.get("policy", {}).get("included_groups") or []
    if groups:
        r = session.get(
            f"{e['graph_base']}/v1.0/groups/{groups[0]}/transitiveMembers/microsoft.graph.user?$select=id",
            headers={"Authorization": f"Bearer {token}"},
        )
        print(f"Graph transitiveMembers of {groups[0]}: HTTP {r.status_code}, {len(r.json().get('value', []))} users on the first page")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
