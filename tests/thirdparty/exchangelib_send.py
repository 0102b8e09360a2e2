#!/usr/bin/env python3
"""Checks the lab's EWS with a standard third-party client: exchangelib over NTLM.

Run by hand (not part of `cargo test`):

    python3 -m venv /tmp/exl && /tmp/exl/bin/pip install exchangelib
    cargo run --bin exchange-connector-lab -- serve --endpoints-file /tmp/lab/endpoints.json &
    /tmp/exl/bin/python tests/thirdparty/exchangelib_send.py /tmp/lab/endpoints.json

It discovers the EWS URL with exchangelib's own SOAP Autodiscover client (GetUserSettings on the lab's
autodiscover.svc), lets exchangelib find the server version (ConvertId), sends one message with
SendAndSaveCopy and one with SendOnly as the notification account, all over NTLM, then reads the lab's
outbox through the control API and checks both arrived with the right sender and recipient.
The lab's CA is trusted explicitly through a requests adapter; nothing is switched off.
"""

import json
import ssl
import sys
import uuid

import requests.adapters
from exchangelib import DELEGATE, Account, Configuration, Credentials, HTMLBody, Message, NTLM
from exchangelib.autodiscover.protocol import AutodiscoverProtocol
from exchangelib.protocol import BaseProtocol


def main() -> int:
    endpoints = json.load(open(sys.argv[1]))
    ca = endpoints["ca_cert_pem"]

    class LabCaAdapter(requests.adapters.HTTPAdapter):
        """Trusts the lab CA (and only it) for every EWS request."""

        def init_poolmanager(self, *args, **kwargs):
            kwargs["ssl_context"] = ssl.create_default_context(cafile=ca)
            return super().init_poolmanager(*args, **kwargs)

        def cert_verify(self, conn, url, verify, cert):
            return super().cert_verify(conn, url, ca, cert)

    BaseProtocol.HTTP_ADAPTER_CLS = LabCaAdapter

    notify = endpoints["notification_account"]
    domain = endpoints["domain"]
    netbios = endpoints["service_account"]["user"].split("\\")[0]
    credentials = Credentials(f"{netbios}\\{notify['address'].split('@')[0]}", notify["password"])

    # SOAP Autodiscover with exchangelib's own GetUserSettings (it asks for every setting there is; the
    # lab answers the ones it has and reports the others as not available, which exchangelib accepts).
    ad = AutodiscoverProtocol(
        config=Configuration(
            service_endpoint=endpoints["autodiscover_svc_url"], credentials=credentials, auth_type=NTLM
        )
    )
    settings = ad.get_user_settings(user=notify["address"])
    settings.raise_errors()
    ews_url = settings.ews_url
    print("autodiscover:", settings.autodiscover_smtp_address, ews_url, settings.version.api_version)
    assert ews_url == endpoints["ews_url"], ews_url

    config = Configuration(service_endpoint=ews_url, credentials=credentials, auth_type=NTLM)
    account = Account(
        primary_smtp_address=notify["address"], config=config, autodiscover=False, access_type=DELEGATE
    )
    print("server version:", account.version.build, account.version.api_version)

    recipient = f"heidi@{domain}"
    marker = uuid.uuid4().hex[:8]
    Message(
        account=account,
        subject=f"exchangelib send_and_save {marker}",
        body=HTMLBody("<p>Hello from <b>exchangelib</b></p>"),
        to_recipients=[recipient],
    ).send_and_save()
    Message(
        account=account,
        subject=f"exchangelib send {marker}",
        body="plain text",
        to_recipients=[recipient],
    ).send(save_copy=False)

    session = requests.Session()
    session.mount("https://", LabCaAdapter())
    outbox = session.get(f"{endpoints['control_base']}/outbox").json()
    if isinstance(outbox, dict):
        outbox = outbox.get("messages", outbox.get("value", []))
    mine = [m for m in outbox if marker in m["subject"]]
    for m in mine:
        print("outbox:", m["from"], m["to"], m["subject"], m["bodyType"], m["disposition"])
    ok = (
        len(mine) == 2
        and all(m["from"] == notify["address"] and m["to"] == [recipient] for m in mine)
        and {m["disposition"] for m in mine} == {"SendAndSaveCopy", "SendOnly"}
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
