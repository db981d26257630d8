"""Runs moto's EventBridge/SQS server for the API tests and exits when the test process does.

Usage: python3 moto_server.py PORT
Prints "ready" once the server answers. Needs `pip install 'moto[server]'`.
"""
import logging
import os
import sys
import time

from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)
port = int(sys.argv[1])
parent = os.getppid()
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print("ready", flush=True)
try:
    while os.getppid() == parent:
        time.sleep(0.5)
finally:
    server.stop()
