#!/usr/bin/env python3
"""Checks the lab's device-code sign-in with Microsoft's own MSAL for Python (not part of `cargo test`).

Usage:
    pip install msal requests
    exchange-connector-lab serve --endpoints-file /tmp/lab/endpoints.json &
    python3 tests/thirdparty/msal_device_code.py /tmp/lab/endpoints.json

A PublicClientApplication (instance discovery off, the lab's CA as the only extra trust) starts a
device flow with `initiate_device_flow`; the script then plays the admin at the other device: it
approves the code through the lab's control API (`/control/sign-in/device-codes/approve`) as a Global
Administrator, and `acquire_token_by_device_flow` must return a delegated token that Graph accepts
(`GET /v1.0/applications`). A second flow is declined through the control API and must come back as
Entra's `authorization_declined`. Exit status 0 when everything matched.
"""

import json
import sys

import msal
import requests


def main(endpoints_path: str) -> int:
    with open(endpoints_path, encoding="utf-8") as f:
        e = json.load(f)
    session = requests.Session()
    session.verify = e["ca_cert_pem"]  # trust the lab CA; verification stays on
    session.trust_env = False  # the lab is on loopback: no environment proxies or bundles
    control = f"{e['control_base']}/sign-in"

    # Poll every second instead of Entra's five.
    r = session.put(f"{control}/settings", json={"pollIntervalSeconds": 1})
    r.raise_for_status()

    app = msal.PublicClientApplication(
        "exchange-connector-lab-sign-in",
        authority=f"{e['login_base']}/{e['tenant_id']}",
        instance_discovery=False,
        http_client=session,
    )
    scopes = [f"{e['graph_base']}/Application.ReadWrite.All"]

    flow = app.initiate_device_flow(scopes=scopes)
    if "user_code" not in flow:
        print("initiate_device_flow FAILED:", flow)
        return 1
    print("device flow:", flow["message"])
    if flow["user_code"] not in flow["message"]:
        print("the message does not name the code")
        return 1
    # The admin types the code on another device and signs in.
    r = session.post(
        f"{control}/device-codes/approve",
        json={"userCode": flow["user_code"], "user": "admin@contoso.lab", "role": "Global Administrator"},
    )
    r.raise_for_status()
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        print("acquire_token_by_device_flow FAILED:", {k: result.get(k) for k in ("error", "error_description")})
        return 1
    print(f"device flow: token ok, scope={result.get('scope')}")

    r = session.get(
        f"{e['graph_base']}/v1.0/applications",
        headers={"Authorization": f"Bearer {result['access_token']}"},
    )
    print(f"Graph applications as the admin: HTTP {r.status_code}, {len(r.json().get('value', []))} apps")
    if r.status_code != 200:
        return 1

    # A code the person declines comes back as Entra's authorization_declined.
    declined = app.initiate_device_flow(scopes=scopes)
    r = session.post(f"{control}/device-codes/deny", json={"userCode": declined["user_code"]})
    r.raise_for_status()
    refused = app.acquire_token_by_device_flow(declined)
    print(f"declined flow: error={refused.get('error')}")
    if refused.get("error") != "authorization_declined":
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
