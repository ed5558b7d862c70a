#!/usr/bin/env python3
# Test helper: a systemd notification socket. Binds a unix datagram socket
# (a path, or "@name" for the abstract namespace) and prints one JSON line
# per message received. On READY=1 it snapshots, at that instant, the
# overlay address and the FDB of the network namespace it runs in.
import json, socket, subprocess, sys, time

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
print(json.dumps({"listening": True}), flush=True)
while True:
    msg = s.recv(65536).decode()
    rec = {"t": time.time(), "msg": msg}
    if "READY=1" in msg:
        run = lambda *a: subprocess.run(list(a), capture_output=True, text=True).stdout
        rec["addr"] = run("ip", "-4", "-o", "addr", "show", "dev", "scbr-100")
        rec["fdb"] = run("bridge", "fdb", "show", "dev", "scvx-100")
    print(json.dumps(rec), flush=True)
