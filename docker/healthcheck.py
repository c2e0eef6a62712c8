#!/usr/bin/env python3
"""Container health check: is the bridge online on its broker?

Reads the bridge's own config (the same file ``asic-bridge run`` uses, environment
variables expanded), connects to its broker with its credentials under another client id,
and expects the retained ``<base>/bridge/state`` to be ``online``.  Exit 0 = healthy.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys

import aiomqtt

from asic_bridge.bridge.config import load_config

TIMEOUT = 8.0


async def bridge_online(path: str) -> bool:
    mqtt = load_config(path).mqtt
    host, port, tls, user, password = mqtt.endpoint()
    if host in ("0.0.0.0", "::", ""):  # an embedded broker listening on every address
        host = "127.0.0.1"
    context = None
    if tls:
        context = ssl.create_default_context(cafile=mqtt.tls.ca_certs)
        if mqtt.tls.certfile:
            context.load_cert_chain(mqtt.tls.certfile, mqtt.tls.keyfile)
        if mqtt.tls.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    async with asyncio.timeout(TIMEOUT):
        async with aiomqtt.Client(
            hostname=host,
            port=port,
            username=user,
            password=password,
            identifier=f"{mqtt.client_id}-health-{os.getpid()}",  # never the bridge's own id
            tls_context=context,
            protocol=aiomqtt.ProtocolVersion.V311,
        ) as client:
            await client.subscribe(f"{mqtt.base_topic}/bridge/state", qos=0)
            async for message in client.messages:
                payload = message.payload
                text = payload.decode() if isinstance(payload, bytes) else str(payload)
                return text.strip() == "online"
    return False


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/config/bridge.yaml"
    try:
        healthy = asyncio.run(bridge_online(path))
    except Exception as exc:  # any failure is "unhealthy", with the reason
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("healthy" if healthy else "unhealthy: bridge state is not online")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
