"""A loopback ZMQ forwarder for one local arm's Dynamo event plane (KV events, worker metrics).

Without a broker every Dynamo publisher binds its PUB socket on 0.0.0.0 (hard-coded in Dynamo's direct mode) and
advertises the host's routable address; with DYN_ZMQ_BROKER_URL set, publishers and subscribers instead connect
to this forwarder, which binds loopback only. Runs in the simulator environment (.venvs/dynamo, which has pyzmq):

    python zmq_broker.py XSUB_PORT XPUB_PORT
"""

from __future__ import annotations

import sys


def main(xsub_port: int, xpub_port: int) -> None:
    import zmq

    ctx = zmq.Context()
    frontend = ctx.socket(zmq.XSUB)  # publishers connect here
    frontend.bind(f"tcp://127.0.0.1:{xsub_port}")
    backend = ctx.socket(zmq.XPUB)  # subscribers connect here; their subscriptions flow back to the publishers
    backend.bind(f"tcp://127.0.0.1:{xpub_port}")
    print(f"zmq broker: xsub 127.0.0.1:{xsub_port}, xpub 127.0.0.1:{xpub_port}", flush=True)
    zmq.proxy(frontend, backend)  # until the platform's teardown signals the process group


def broker_url(xsub_port: int, xpub_port: int) -> str:
    """DYN_ZMQ_BROKER_URL for this forwarder (Dynamo's format: `xsub=<urls> , xpub=<urls>`)."""
    return f"xsub=tcp://127.0.0.1:{xsub_port} , xpub=tcp://127.0.0.1:{xpub_port}"


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
