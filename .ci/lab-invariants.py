#!/usr/bin/env python3
"""The lab's invariants after a sync, read from its control API (.ci/windows.sh, windows_lab_sync).

    python3 .ci/lab-invariants.py LAB_DIR REPORT_JSON

LAB_DIR holds the lab's endpoints.json (with its CA) and the scenario.json it serves; REPORT_JSON is
`exchange-connector-service sync --json`'s output. Checks: the sync succeeded, and no device of a
targeted user whose Intune record is non-compliant is still Allowed in Exchange (an administrator's own
allow entry excepted: the connector never edits those). Fails when there is no such device to check.
"""
import json
import os
import ssl
import sys
import urllib.request

lab, report_path = sys.argv[1], sys.argv[2]
endpoints = json.load(open(f"{lab}/endpoints.json"))
scenario = json.load(open(f"{lab}/scenario.json"))
try:
    report = json.loads(open(report_path, encoding="utf-8", errors="replace").read().replace("\r", ""))
except ValueError:
    print("FAILED: the sync printed no report")
    sys.exit(1)
print(f"sync outcome: {report.get('outcome')}, changes applied: {report.get('changes_applied')}, "
      f"failed: {report.get('changes_failed')}, error: {report.get('error')}")
if report.get("outcome") != "Succeeded":
    print("FAILED: the full sync did not succeed")
    sys.exit(1)

# Paths in the endpoints file are relative to its folder.
context = ssl.create_default_context(cafile=os.path.join(lab, endpoints["ca_cert_pem"]))


def get(path):
    with urllib.request.urlopen(endpoints["control_base"].rstrip("/") + path, context=context) as r:
        return json.load(r)


# Targeted users: members (through nested groups) of the included groups, minus the excluded.
groups = {g["id"]: g["members"] for g in scenario["tenant"]["groups"]}


def members(group_id, seen):
    out = set()
    for member in groups.get(group_id, []):
        if member in groups:
            if member not in seen:
                seen.add(member)
                out |= members(member, seen)
        else:
            out.add(member)
    return out


def union(ids):
    out = set()
    for group_id in ids:
        out |= members(group_id, {group_id})
    return out


policy = scenario["tenant"]["policy"]
targeted = union(policy.get("includedGroups", [])) - union(policy.get("excludedGroups", []))
noncompliant = {d["easDeviceId"] for d in scenario["tenant"]["managedDevices"]
                if d.get("easDeviceId") and d.get("complianceState") == "noncompliant"}
admin_allowed = {(m.get("userId"), i) for m in scenario["organization"]["mailboxes"]
                 for i in m.get("allowedDeviceIds", [])}

checked, violations = 0, []
for device in get("/devices"):
    if device["userId"] not in targeted or device["deviceId"] not in noncompliant:
        continue
    if (device["userId"], device["deviceId"]) in admin_allowed:
        continue
    checked += 1
    if device["deviceAccessState"] == "Allowed":
        violations.append(f"{device['mailbox']}/{device['deviceId']}")
status = get("/status")
print(f"lab: {status['devices']} devices, by state {status['devicesByState']}")
print(f"targeted non-compliant devices checked: {checked}, still allowed: {len(violations)}")
if checked == 0:
    print("FAILED: the scenario has no targeted non-compliant device to check")
    sys.exit(1)
if violations:
    print("FAILED: targeted non-compliant devices still allowed: " + ", ".join(violations))
    sys.exit(1)
