"""The official Python SDK (b24pysdk) running bx-events' benchmark scenarios.

`make bench` runs this with target/sdk-venv/bin/python beside bx-events, against
the same sandbox. Each scenario does what an integrator would write with the SDK:
its client for single calls, `call_batches` (50 commands per batch) for many.

    python benches/sdk_peer.py PORTAL TOKEN CLIENT_ID CLIENT_SECRET SCENARIO [ARG]

Scenarios: apply FILE_COUNT (bind N handlers not yet bound), reapply N (read and
compare, nothing to do), prune (unbind every handler), drain (offline get/clear
loop, records printed as JSON lines), list (event.get printed as JSON), import.
"""

import json
import sys

import importlib

import b24pysdk

# The SDK builds https://DOMAIN/rest URLs; the sandbox speaks plain HTTP on
# 127.0.0.1. Only the scheme changes: requests, retries and parsing are the SDK's.
_caller = importlib.import_module("b24pysdk.api.callers.call_method")._MethodCaller
_caller._base_url = property(lambda self: f"http://{self._domain}/rest")


def handler(i):
    return f"https://hooks.example.com/h{i}"


def main():
    portal, token, client_id, client_secret, scenario = sys.argv[1:6]
    arg = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    if scenario == "import":
        return
    domain = portal.split("://", 1)[1].rstrip("/")
    app = b24pysdk.BitrixApp(client_id=client_id, client_secret=client_secret)
    bitrix_token = b24pysdk.BitrixToken(domain=domain, auth_token=token, bitrix_app=app)
    client = b24pysdk.Client(bitrix_token)
    if scenario == "list":
        bound = client.event.get().result
        json.dump(bound, sys.stdout, indent=2)
    elif scenario in ("apply", "reapply"):
        wanted = {("ONCRMDEALADD", handler(i)) for i in range(arg)}
        bound = {(b["event"], b["handler"]) for b in client.event.get().result}
        missing = sorted(wanted - bound)
        if missing:
            bitrix_token.call_batches(
                [("event.bind", {"event": e, "handler": h}) for e, h in missing]
            )
    elif scenario == "prune":
        bound = client.event.get().result
        if bound:
            bitrix_token.call_batches(
                [("event.unbind", {"event": b["event"], "handler": b["handler"]}) for b in bound]
            )
    elif scenario == "drain":
        out = sys.stdout
        while True:
            answer = client.event.offline.get(limit=500, clear=False).result
            events = answer.get("events") or []
            if not events:
                break
            for record in events:
                out.write(json.dumps(record) + "\n")
            client.event.offline.clear(process_id=answer["process_id"]).result
    else:
        sys.exit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main()
