"""Runs moto's EventBridge/SQS server for the API tests and exits when the test process does.

Usage: python3 moto_server.py PORT
Prints "ready VERSION" once the server answers. Needs moto[server] at the version .ci/peers.env
pins.
"""
import logging
import os
import sys
import time

import moto
from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)
port = int(sys.argv[1])
parent = os.getppid()
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print(f"ready {moto.__version__}", flush=True)
try:
    while os.getppid() == parent:
        time.sleep(0.5)
finally:
    server.stop()
