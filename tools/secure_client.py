#!/usr/bin/env python3
"""A secure-mode tickwire client in Python (docs/PROTOCOL.md section 8), written from the
protocol document alone, for checking a real server from outside the Rust code.

It connects with a connect token (TOKEN_HELLO, the CHALLENGE round trip, the sealed
ACCEPT), sends sealed INPUT (walking right) and KEEPALIVE, authenticates and opens every
SNAPSHOT part (the per-client tag T, then C under the match key), checks that the server
acted on its INPUT, and leaves with a sealed BYE. The primitives and layouts are those of
tools/secure_vectors.py.

    secure_client.py --server 127.0.0.1:7777 --token HEX [--snapshots N] [--timeout S]
    secure_client.py --server 127.0.0.1:7777 --key-file FLEET.key --client-id N
                     [--scope S] [--name NAME] [--protocol-id P] ...

On success it prints one line, `ok qport=.. s0=.. tick_hz=.. max_payload=.. snapshots=..
x_first=.. x_last=.. bad_auth=..`, and exits 0. Exit 1: no ACCEPT, too few snapshots in
time, or the server never moved the player; 2: usage; 3: the server sent a REJECT that
authenticates (full).
"""

from __future__ import annotations

import argparse
import hmac
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import secure_vectors as sv  # noqa: E402

HEADER_LEN = 13
CHALLENGE_KIND = 0x02
KEEPALIVE_EVERY = 0.1  # seconds; the protocol asks for at least every 250 ms
HELLO_EVERY = 0.25
INPUT_EVERY = 0.05
SEQ_WINDOW = 1024


def parse_header(d: bytes):
    """(flags, seq, ack, qport, kind, len), or None when the size is not 13 + len."""
    if len(d) < HEADER_LEN:
        return None
    h = struct.unpack(">BIIBBH", d[:HEADER_LEN])
    if len(d) != HEADER_LEN + h[5] or h[0] & 0x0F:
        return None
    return h


def newer(a: int, b: int) -> bool:
    """Serial arithmetic over u32 (RFC 1982): a is newer than b and at most 1024 ahead."""
    d = (a - b) % 2**32
    return 0 < d <= SEQ_WINDOW


class Client:
    """The client's state; `on_datagram` takes what the server sent."""

    def __init__(self, protocol_id: int, token: bytes):
        if len(token) != sv.TOKEN_LEN:
            raise ValueError("a connect token is 205 bytes")
        self.protocol_id = protocol_id
        self.token = token
        self.c2s = token[16:48]
        self.s2c = token[48:80]
        self.kmac = sv.snapshot_mac_key(self.s2c)
        self.cookie = 0
        self.connected = False
        self.rejected = False
        self.qport = 0
        self.s0 = 0
        self.km = b""
        self.accept: dict = {}
        self.seq = 0  # the last seq sent
        self.newest = 0  # the newest server seq accepted
        self.snapshots: list[tuple[int, bytes]] = []  # (tick, body) of each part opened
        self.bad_auth = 0
        self.dropped = 0
        self.bye = False

    def token_hello(self) -> bytes:
        return sv.token_hello(self.protocol_id, self.token, cookie=self.cookie)

    def sealed(self, flags: int, kind: int, plain: bytes) -> bytes:
        self.seq = (self.seq + 1) % 2**32
        return sv.sealed_datagram(
            self.c2s, sv.DIR_CLIENT, flags, self.seq, self.newest, self.qport, kind, plain
        )

    def keepalive(self) -> bytes:
        return self.sealed(sv.SEQ | sv.ACK, sv.KEEPALIVE, b"")

    def input(self, dx: int, dy: int) -> bytes:
        return self.sealed(sv.SEQ | sv.ACK, sv.INPUT, struct.pack(">bb", dx, dy))

    def bye_datagram(self) -> bytes:
        # BYE carries DISCONNECT and SEQ only; its ack field means nothing.
        self.seq = (self.seq + 1) % 2**32
        head = sv.header(sv.DISCONNECT | sv.SEQ, self.seq, 0, self.qport, sv.BYE, sv.TAG_LEN)
        return head + sv.aead_seal(self.c2s, sv.nonce_seq(sv.DIR_CLIENT, self.seq), head, b"")

    def on_datagram(self, d: bytes) -> None:
        h = parse_header(d)
        if h is None:
            self.dropped += 1
            return
        flags, seq, ack, qport, kind, length = h
        head, payload = d[:HEADER_LEN], d[HEADER_LEN:]
        if not self.connected:
            self.before_accept(flags, seq, qport, kind, head, payload)
            return
        if qport != self.qport or kind in (CHALLENGE_KIND, sv.REJECT_KIND):
            self.dropped += 1
            return
        if kind == sv.ACCEPT_KIND:
            return  # a repeat of the ACCEPT: nothing to do
        if not flags & sv.SEQ or not newer(seq, self.newest):
            self.dropped += 1
            return
        if kind == sv.SNAPSHOT:
            if len(payload) < 14 + 2 * sv.TAG_LEN:
                self.bad_auth += 1
                return
            prefix, t, c = payload[:14], payload[14:30], payload[30:]
            tick, _time_us, part, parts = struct.unpack(">IQBB", prefix)
            if parts == 0 or part >= parts:
                self.dropped += 1
                return
            if not hmac.compare_digest(sv.mac(self.kmac, head + prefix + sv.h(c)), t):
                self.bad_auth += 1
                return
            body = sv.aead_open(self.km, sv.nonce_snapshot(part, tick), prefix, c)
            if body is None:
                self.bad_auth += 1
                return
            self.newest = seq
            self.snapshots.append((tick, body))
            return
        plain = sv.aead_open(self.s2c, sv.nonce_seq(sv.DIR_SERVER, seq), head, payload)
        if plain is None:
            self.bad_auth += 1
            return
        if kind in (sv.KEEPALIVE, sv.BYE) and plain:
            self.dropped += 1
            return
        self.newest = seq
        if kind == sv.BYE:
            self.bye = True

    def before_accept(self, flags, seq, qport, kind, head, payload) -> None:
        if kind == CHALLENGE_KIND and flags == sv.CONNECT and len(payload) == 8:
            self.cookie = struct.unpack(">Q", payload)[0]
            return
        if self.cookie == 0:
            self.dropped += 1  # ACCEPT and REJECT only answer a TOKEN_HELLO with a cookie
            return
        if kind == sv.REJECT_KIND and len(payload) == 1 + sv.TAG_LEN:
            plain = sv.aead_open(self.s2c, sv.NONCE_REJECT, head, payload)
            if plain is None:
                self.bad_auth += 1  # forged: ignored
                return
            self.rejected = True
            return
        if kind == sv.ACCEPT_KIND and len(payload) == 52 + sv.TAG_LEN and qport != 0:
            plain = sv.aead_open(self.s2c, sv.nonce_seq(sv.DIR_SERVER, seq), head, payload)
            if plain is None:
                self.bad_auth += 1
                return
            tick_hz, max_payload, tick, time_us, reserved = struct.unpack(">HHIQI", plain[:20])
            if tick_hz == 0 or reserved != 0:
                self.dropped += 1
                return
            self.km = plain[20:52]
            self.accept = {
                "tick_hz": tick_hz,
                "max_payload": max_payload,
                "tick": tick,
                "time_us": time_us,
            }
            self.qport, self.s0 = qport, seq
            self.seq = self.newest = seq
            self.connected = True
            return
        self.dropped += 1


def own_x(c: Client, body: bytes) -> int | None:
    """This client's x in an arena snapshot part (`count u8`, then 8-byte entities)."""
    if not body or len(body) != 1 + 8 * body[0]:
        return None
    for i in range(body[0]):
        q, x, _y, _hp, _score = struct.unpack(">BhhBH", body[1 + 8 * i : 9 + 8 * i])
        if q == c.qport:
            return x
    return None


def run(a) -> int:
    host, _, port = a.server.rpartition(":")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    server = (host.strip("[]"), int(port))
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0) if a.loopback else ("", 0))
    c = Client(a.protocol_id, a.token)
    deadline = time.monotonic() + a.timeout
    next_hello = next_keepalive = next_input = 0.0
    xs: list[int] = []
    while time.monotonic() < deadline:
        now = time.monotonic()
        if not c.connected and now >= next_hello:
            sock.sendto(c.token_hello(), server)
            next_hello = now + HELLO_EVERY
        if c.connected and now >= next_input:
            sock.sendto(c.input(1, 0), server)
            next_input = now + INPUT_EVERY
        if c.connected and now >= next_keepalive:
            sock.sendto(c.keepalive(), server)
            next_keepalive = now + KEEPALIVE_EVERY
        wait = min(next_hello if not c.connected else next_input, next_keepalive, deadline)
        r, _, _ = select.select([sock], [], [], max(0.0, min(wait - time.monotonic(), 0.05)))
        while r:
            d, src = sock.recvfrom(2048)
            if src[:2] == server:  # only the server's address is listened to
                was = c.connected
                c.on_datagram(d)
                if c.connected and not was:
                    next_keepalive = next_input = 0.0
            r, _, _ = select.select([sock], [], [], 0)
        if c.rejected:
            print("rejected: the server is full (an authenticated REJECT 1)")
            return 3
        xs = [x for x in (own_x(c, b) for _, b in c.snapshots) if x is not None]
        if len(c.snapshots) >= a.snapshots and len(xs) >= 2 and (xs[-1] > xs[0] or xs[-1] == 1023):
            break
        if c.bye:
            break
    if c.connected and not c.bye:
        sock.sendto(c.bye_datagram(), server)
    sock.close()
    summary = (
        f"qport={c.qport} s0={c.s0} tick_hz={c.accept.get('tick_hz')} "
        f"max_payload={c.accept.get('max_payload')} snapshots={len(c.snapshots)} "
        f"x_first={xs[0] if xs else None} x_last={xs[-1] if xs else None} "
        f"bad_auth={c.bad_auth} dropped={c.dropped}"
    )
    if not c.connected:
        print(f"failed: no ACCEPT (cookie {'received' if c.cookie else 'never received'}); {summary}")
        return 1
    if c.bye:
        print(f"failed: the server said BYE; {summary}")
        return 1
    if len(c.snapshots) < a.snapshots or len(xs) < 2 or not (xs[-1] > xs[0] or xs[-1] == 1023):
        print(f"failed: too few snapshots, or the player never moved; {summary}")
        return 1
    print(f"ok {summary}")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="secure_client.py",
        description="A secure-mode tickwire client in Python (docs/PROTOCOL.md section 8): "
        "connects with a connect token, walks right, verifies snapshots, leaves.",
    )
    ap.add_argument("--server", required=True, help="the game port, HOST:PORT ([v6]:PORT)")
    ap.add_argument("--token", type=sv.hex_of(sv.TOKEN_LEN), help="the connect token, 410 hex digits")
    ap.add_argument(
        "--key-file", "--token-key", dest="key_file",
        help="mint the token locally from this fleet key file instead",
    )
    ap.add_argument("--client-id", type=sv.u64, default=1)
    ap.add_argument("--scope", type=sv.u64, default=0)
    ap.add_argument("--name", default="")
    ap.add_argument("--protocol-id", type=sv.u32, default=0)
    ap.add_argument("--snapshots", type=int, default=20, help="snapshot parts to verify (20)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds before giving up (10)")
    ap.add_argument("--loopback", action="store_true", help="bind the loopback address")
    a = ap.parse_args(argv)
    if (a.token is None) == (a.key_file is None):
        print("secure_client.py: give exactly one of --token and --key-file", file=sys.stderr)
        return 2
    if a.key_file is not None:
        try:
            kf = sv.read_key_file(a.key_file)
        except SystemExit as e:
            print(f"secure_client.py: {e}", file=sys.stderr)
            return 2
        name = a.name.encode()
        if len(name) > sv.MAX_NAME:
            print("secure_client.py: --name is at most 16 bytes", file=sys.stderr)
            return 2
        a.token = sv.mint(
            kf, a.protocol_id, a.client_id, a.scope, name, int(time.time()) + 30,
            os.urandom(32), os.urandom(32), os.urandom(12),
        )
    return run(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
