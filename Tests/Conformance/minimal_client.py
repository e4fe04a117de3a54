#!/usr/bin/env python3
"""A Parla client written from docs/PROTOCOL.md alone (Python stdlib + cryptography).

Registers two users, sends a message from one to the other while the recipient
is offline, logs the recipient in, receives and confirms it, and checks that the
sender gets the delivered receipt; then, with both online, checks that a message
goes live and its ack says it was delivered. Prints "conformance: ok" and exits 0
on success.

Usage: minimal_client.py ws://127.0.0.1:PORT/v1
"""
import base64, json, os, socket, struct, sys, time, uuid
from urllib.parse import urlparse
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization

RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)
b64 = lambda b: base64.b64encode(b).decode()


class WebSocket:
    """Just enough RFC 6455 for text frames."""

    def __init__(self, url):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=10)
        key = b64(os.urandom(16))
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def send(self, obj):
        payload = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536 else bytes([0x80 | 127]) + struct.pack("!Q", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self):
        while True:
            b1, b2 = self._read(2)
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b1 & 0x0F
            if opcode == 0x1:
                frame = json.loads(payload)
                if frame["type"] in ("presence", "typing"):
                    continue
                return frame
            if opcode == 0x9:  # ping -> pong
                mask = os.urandom(4)
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            if opcode == 0x8:
                raise EOFError("closed")

    def close(self):
        self.sock.close()


def statement(lines):
    return "\n".join(lines).encode()


def connect(url, name, signing, agreement=None):
    ws = WebSocket(url)
    challenge = ws.recv()
    assert challenge["type"] == "challenge" and challenge["version"] == 1, challenge
    ts = int(time.time() * 1000)
    if agreement is not None:
        spub = signing.public_key().public_bytes(**RAW)
        apub = agreement.public_key().public_bytes(**RAW)
        msg = statement(["parla-auth-v1", "register", challenge["relay"], challenge["nonce"], name, str(ts), b64(spub), b64(apub), ""])
        ws.send({"type": "register", "version": 1, "name": name, "signingKey": b64(spub), "agreementKey": b64(apub),
                 "timestamp": ts, "signature": b64(signing.sign(msg))})
    else:
        msg = statement(["parla-auth-v1", "login", challenge["relay"], challenge["nonce"], name, str(ts)])
        ws.send({"type": "login", "version": 1, "name": name, "timestamp": ts, "signature": b64(signing.sign(msg))})
    welcome = ws.recv()
    assert welcome["type"] == "welcome" and welcome["name"] == name, welcome
    return ws


def main(url):
    suffix = uuid.uuid4().hex[:6]
    alice, bob = f"alice{suffix}", f"bob{suffix}"
    keys = {n: (Ed25519PrivateKey.generate(), X25519PrivateKey.generate()) for n in (alice, bob)}
    for n in (alice, bob):
        connect(url, n, *keys[n]).close()

    a = connect(url, alice, keys[alice][0])
    assert a.recv()["type"] == "queueEmpty"
    mid = str(uuid.uuid4())
    a.send({"type": "send", "id": mid, "to": bob, "body": b64("ciao dal python 🐍".encode())})
    assert a.recv() == {"type": "ack", "id": mid}
    a.send({"type": "send", "id": "x1", "to": bob, "body": "not base64!"})
    err = a.recv()
    assert err["type"] == "error" and err["code"] == "bad_base64" and err["ref"] == "x1", err

    b = connect(url, bob, keys[bob][0])
    msg = b.recv()
    assert msg["type"] == "message" and msg["id"] == mid and msg["from"] == alice, msg
    assert base64.b64decode(msg["body"]).decode() == "ciao dal python 🐍"
    assert isinstance(msg["sentAt"], int)
    assert b.recv()["type"] == "queueEmpty"
    b.send({"type": "confirm", "ids": [mid]})
    b.send({"type": "getKeys", "name": alice})
    k = b.recv()
    assert k["type"] == "keys" and base64.b64decode(k["signingKey"]) == keys[alice][0].public_key().public_bytes(**RAW), k

    receipt = a.recv()
    assert receipt["type"] == "receipt" and receipt["kind"] == "delivered" and receipt["messageIds"] == [mid] and receipt["from"] == bob, receipt
    a.send({"type": "confirm", "ids": [receipt["id"]]})

    # Both online: the message goes live, and once Bob confirms it Alice's ack carries "delivered" (§4 point 11).
    live = str(uuid.uuid4())
    a.send({"type": "send", "id": live, "to": bob, "body": b64(b"live")})
    msg = b.recv()
    while msg["type"] == "presence":
        msg = b.recv()
    assert msg["type"] == "message" and msg["id"] == live, msg
    b.send({"type": "confirm", "ids": [live]})
    ack = a.recv()
    while ack["type"] == "presence":
        ack = a.recv()
    assert ack["type"] == "ack" and ack["id"] == live and isinstance(ack["delivered"], int), ack
    a.close()
    b.close()
    print("conformance: ok")


if __name__ == "__main__":
    main(sys.argv[1])
