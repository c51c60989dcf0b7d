#!/usr/bin/env python3
"""Secure mode of tickwire (docs/PROTOCOL.md section 8), independently of the Rust code.

Written from docs/PROTOCOL.md alone, with ChaCha20-Poly1305 from `cryptography` and BLAKE3
from `blake3` (tools/install-test-deps.sh puts both into target/test-venv/). It prints the
golden vectors of section 8.9, and mints and opens connect tokens as an issuer written in
another language would. tests/secure_vectors_python.rs checks it against the library.

    secure_vectors.py vectors
        prints the vector block of docs/PROTOCOL.md section 8.9
    secure_vectors.py mint --key-file FILE --client-id N [--scope S] [--name NAME]
                           (--token-key is the same as --key-file, as in `tickwire token`)
                           [--protocol-id P] [--lifetime SECS | --expires UNIX]
                           [--c2s HEX --s2c HEX --nonce HEX]
        prints a connect token: 410 lowercase hex digits and a newline
    secure_vectors.py open --key-file FILE [--protocol-id P] [HEX]
        prints what a token (HEX, or read from standard input) holds; exit 1 if it does not
        open under that key and protocol id

Exit status: 0 on success, 1 when a token does not open, 2 on a usage or key-file error.
"""

from __future__ import annotations

import argparse
import os
import stat
import struct
import sys
import time

try:
    import blake3
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
except ImportError as e:  # pragma: no cover - depends on the environment
    sys.exit(
        f"secure_vectors.py: {e}: run tools/install-test-deps.sh and use "
        "target/test-venv/bin/python3 (it needs `cryptography` and `blake3`)"
    )

# --- section 8.1: primitives ---------------------------------------------------------

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16


def aead_seal(key: bytes, nonce: bytes, aad: bytes, plain: bytes) -> bytes:
    """AEAD(k, n, aad, p): ciphertext || 16-byte tag."""
    return ChaCha20Poly1305(key).encrypt(nonce, plain, aad)


def aead_open(key: bytes, nonce: bytes, aad: bytes, sealed: bytes) -> bytes | None:
    """The plaintext, or None when the tag does not verify."""
    if len(sealed) < TAG_LEN:
        return None
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        return None


def h(m: bytes) -> bytes:
    """H(m): BLAKE3, 32 bytes."""
    return blake3.blake3(m).digest()


def mac(key: bytes, m: bytes) -> bytes:
    """MAC(k, m): the first 16 bytes of keyed BLAKE3."""
    return blake3.blake3(m, key=key).digest()[:16]


def kdf(context: str, material: bytes) -> bytes:
    """KDF(context, m): BLAKE3 derive_key, 32 bytes."""
    return blake3.blake3(material, derive_key_context=context).digest()


# --- section 8.2: keys ---------------------------------------------------------------

KMAC_CONTEXT = "tickwire 2026 snapshot mac"


def snapshot_mac_key(ks2c: bytes) -> bytes:
    return kdf(KMAC_CONTEXT, ks2c)


def read_key_file(path: str) -> bytes:
    """A key file: 64 hex digits and a newline, not accessible by group or others."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            text = f.read(2 * KEY_LEN + 3)
    except OSError as e:
        raise SystemExit(f"key file {path}: {e.strerror}") from None
    if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise SystemExit(
            f"key file {path} has mode {stat.S_IMODE(mode):04o}: group or others can "
            f"access it; run `chmod 600 {path}`"
        )
    if text.endswith(b"\n"):
        text = text[:-1]
    key = parse_hex(text.decode("ascii", "replace"), KEY_LEN)
    if key is None:
        raise SystemExit(f"key file {path} must hold exactly 64 hex digits and a newline")
    return key


def parse_hex(s: str, n: int) -> bytes | None:
    if len(s) != 2 * n:
        return None
    try:
        return bytes.fromhex(s)
    except ValueError:
        return None


# --- section 8.3: the connect token --------------------------------------------------

TOKEN_LEN = 205
SEALED_LEN = 125
PLAIN_LEN = 97
MAX_NAME = 16
TOKEN_LABEL = b"tickwire-token-1"


def token_aad(protocol_id: int, expires: int) -> bytes:
    return TOKEN_LABEL + struct.pack(">IQ", protocol_id, expires)


def token_plain(client_id: int, scope: int, c2s: bytes, s2c: bytes, name: bytes) -> bytes:
    if len(name) > MAX_NAME:
        raise ValueError(f"a name is at most {MAX_NAME} bytes of UTF-8")
    return (
        struct.pack(">QQ", client_id, scope)
        + c2s
        + s2c
        + bytes([len(name)])
        + name.ljust(MAX_NAME, b"\0")
    )


def mint(
    kf: bytes,
    protocol_id: int,
    client_id: int,
    scope: int,
    name: bytes,
    expires: int,
    c2s: bytes,
    s2c: bytes,
    nonce: bytes,
) -> bytes:
    """The 205 bytes of a connect token."""
    plain = token_plain(client_id, scope, c2s, s2c, name)
    sealed = nonce + aead_seal(kf, nonce, token_aad(protocol_id, expires), plain)
    assert len(sealed) == SEALED_LEN
    token = struct.pack(">QQ", client_id, expires) + c2s + s2c + sealed
    assert len(token) == TOKEN_LEN
    return token


class TokenRefused(Exception):
    pass


def open_sealed(kf: bytes, protocol_id: int, expires: int, sealed: bytes) -> dict:
    """What a server reads from TOKEN_HELLO's expires and sealed fields."""
    if len(sealed) != SEALED_LEN:
        raise TokenRefused(f"the sealed part is {SEALED_LEN} bytes, not {len(sealed)}")
    nonce = sealed[:NONCE_LEN]
    plain = aead_open(kf, nonce, token_aad(protocol_id, expires), sealed[NONCE_LEN:])
    if plain is None or len(plain) != PLAIN_LEN:
        raise TokenRefused("the token does not open under this fleet key and protocol id")
    client_id, scope = struct.unpack(">QQ", plain[:16])
    n = plain[80]
    name = plain[81 : 81 + n] if n <= MAX_NAME else b""
    if n > MAX_NAME or any(plain[81 + n : 97]):
        raise TokenRefused("the token's name is malformed")
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenRefused("the token's name is not UTF-8") from None
    return {
        "client_id": client_id,
        "scope": scope,
        "expires": expires,
        "c2s": plain[16:48],
        "s2c": plain[48:80],
        "name": text,
        "nonce": nonce,
    }


def open_token(kf: bytes, protocol_id: int, token: bytes) -> dict:
    """Opens a whole token and checks its clear fields against the sealed ones."""
    if len(token) != TOKEN_LEN:
        raise TokenRefused(f"a connect token is {TOKEN_LEN} bytes, not {len(token)}")
    client_id, expires = struct.unpack(">QQ", token[:16])
    c = open_sealed(kf, protocol_id, expires, token[80:])
    if (c["client_id"], c["c2s"], c["s2c"]) != (client_id, token[16:48], token[48:80]):
        raise TokenRefused("the token's clear fields do not match its sealed fields")
    return c


# --- sections 1, 8.4 and 8.5: headers, nonces, sealed datagrams ----------------------

CONNECT, DISCONNECT, SEQ, ACK = 0x80, 0x40, 0x20, 0x10
KEEPALIVE, ACCEPT_KIND, REJECT_KIND, BYE, SNAPSHOT, TOKEN_HELLO = 0x00, 0x03, 0x04, 0x05, 0x06, 0x07
INPUT = 0x10
DIR_CLIENT, DIR_SERVER = 0, 1
NONCE_REJECT = bytes([3]) + bytes(11)


def header(flags: int, seq: int, ack: int, qport: int, kind: int, length: int) -> bytes:
    return struct.pack(">BIIBBH", flags, seq, ack, qport, kind, length)


def nonce_seq(direction: int, seq: int) -> bytes:
    return bytes([direction]) + bytes(7) + struct.pack(">I", seq)


def nonce_snapshot(part: int, tick: int) -> bytes:
    return bytes([2, part]) + bytes(6) + struct.pack(">I", tick)


def sealed_datagram(
    key: bytes, direction: int, flags: int, seq: int, ack: int, qport: int, kind: int, plain: bytes
) -> bytes:
    """A connected datagram (8.5): the header, then the plaintext sealed under it."""
    head = header(flags, seq, ack, qport, kind, len(plain) + TAG_LEN)
    return head + aead_seal(key, nonce_seq(direction, seq), head, plain)


def accept_plain(tick_hz: int, max_payload: int, tick: int, time_us: int, km: bytes) -> bytes:
    return struct.pack(">HHIQI", tick_hz, max_payload, tick, time_us, 0) + km


def accept_datagram(ks2c: bytes, s0: int, qport: int, plain: bytes) -> bytes:
    head = header(CONNECT | SEQ | ACK, s0, 1, qport, ACCEPT_KIND, len(plain) + TAG_LEN)
    return head + aead_seal(ks2c, nonce_seq(DIR_SERVER, s0), head, plain)


def reject_datagram(ks2c: bytes, reason: int = 1) -> bytes:
    head = header(CONNECT, 0, 0, 0, REJECT_KIND, 1 + TAG_LEN)
    return head + aead_seal(ks2c, NONCE_REJECT, head, bytes([reason]))


def token_hello(
    protocol_id: int, token: bytes, cookie: int = 0, source_cookie: int = 0,
    reply: tuple[int, int, bytes] = (0, 0, bytes(16)),
) -> bytes:
    """A TOKEN_HELLO datagram (185 bytes): reply is (family, port, 16-byte ip)."""
    family, port, ip = reply
    expires = token[8:16]
    payload = (
        struct.pack(">IBH", protocol_id, family, port)
        + ip
        + expires
        + struct.pack(">QQ", cookie, source_cookie)
        + token[80:]
    )
    assert len(payload) == 172
    return header(CONNECT, 0, 0, 0, TOKEN_HELLO, len(payload)) + payload


# --- section 8.6: snapshots ----------------------------------------------------------


def snapshot_prefix(tick: int, time_us: int, part: int, count: int) -> bytes:
    return struct.pack(">IQBB", tick, time_us, part, count)


def snapshot_seal(km: bytes, prefix: bytes, body: bytes) -> bytes:
    """C: once per part, for every client."""
    tick, _, part, _ = struct.unpack(">IQBB", prefix)
    return aead_seal(km, nonce_snapshot(part, tick), prefix, body)


def snapshot_datagram(
    kmac: bytes, flags: int, seq: int, ack: int, qport: int, prefix: bytes, c: bytes
) -> tuple[bytes, bytes]:
    """(T, the whole datagram) for one client."""
    head = header(flags, seq, ack, qport, SNAPSHOT, len(prefix) + TAG_LEN + len(c))
    t = mac(kmac, head + prefix + h(c))
    return t, head + prefix + t + c


def snapshot_open(km: bytes, kmac: bytes, datagram: bytes) -> bytes | None:
    """What a client does with a SNAPSHOT (after its window check): T, then C."""
    head, payload = datagram[:13], datagram[13:]
    if len(payload) < 14 + TAG_LEN + TAG_LEN:
        return None
    prefix, t, c = payload[:14], payload[14:30], payload[30:]
    if mac(kmac, head + prefix + h(c)) != t:
        return None
    tick, _, part, _ = struct.unpack(">IQBB", prefix)
    return aead_open(km, nonce_snapshot(part, tick), prefix, c)


# --- section 8.9: the vectors --------------------------------------------------------

V = {
    "kf": bytes(range(0x00, 0x20)),
    "kc2s": bytes(range(0x20, 0x40)),
    "ks2c": bytes(range(0x40, 0x60)),
    "km": bytes(range(0x60, 0x80)),
    "token_nonce": bytes(range(0xA0, 0xAC)),
    "client_id": 0x0102030405060708,
    "scope": 7,
    "name": b"ann",
    "expires": 1_800_000_030,
    "protocol_id": 0x00C0FFEE,
    "s0": 0x89ABCDEF,
    "qport": 17,
    "tick_hz": 60,
    "max_payload": 1171,
    "tick": 345,
    "server_time": 5_750_000,
    "snapshot_time": 5_749_512,
    "body": bytes.fromhex("01" "11" "0200" "012c" "64" "0003"),
}


def vectors() -> list[tuple[str, object]]:
    """(name, value) in the order printed: bytes as hex, ints in decimal, comments."""
    v = V
    out: list[tuple[str, object]] = []
    add = lambda name, value: out.append((name, value))  # noqa: E731
    add("#", "inputs (keys are 32 bytes, the token nonce 12)")
    for k in ("kf", "kc2s", "ks2c", "km", "token_nonce"):
        add(k, v[k])
    for k in ("client_id", "scope", "expires", "protocol_id"):
        add(k, v[k])
    add("name", v["name"].decode())
    add("#", "the connect token (8.3)")
    aad = token_aad(v["protocol_id"], v["expires"])
    plain = token_plain(v["client_id"], v["scope"], v["kc2s"], v["ks2c"], v["name"])
    token = mint(
        v["kf"], v["protocol_id"], v["client_id"], v["scope"], v["name"], v["expires"],
        v["kc2s"], v["ks2c"], v["token_nonce"],
    )
    add("token_aad", aad)
    add("token_plain", plain)
    add("token", token)
    add("#", "its TOKEN_HELLO: reply family 0 (the source), cookie 1122334455667788,")
    add("#", "source cookie 0")
    add("token_hello", token_hello(v["protocol_id"], token, cookie=0x1122334455667788))
    add("#", "nonce layouts (8.4-8.6): ACCEPT's nonce(1, S0), the KEEPALIVE below's")
    add("#", "nonce(0, S0+1), REJECT's, and a snapshot nonce of part 3 of tick 345")
    s0 = v["s0"]
    add("s0", s0)
    add("nonce_accept", nonce_seq(DIR_SERVER, s0))
    add("nonce_keepalive", nonce_seq(DIR_CLIENT, (s0 + 1) % 2**32))
    add("nonce_reject", NONCE_REJECT)
    add("nonce_snap_p3_t345", nonce_snapshot(3, 345))
    add("#", "ACCEPT (8.4): qport 17, tick rate 60, max payload 1171, tick 345,")
    add("#", "server time 5750000 us, Km as above")
    ap = accept_plain(v["tick_hz"], v["max_payload"], v["tick"], v["server_time"], v["km"])
    acc = accept_datagram(v["ks2c"], s0, v["qport"], ap)
    add("accept_plain", ap)
    add("accept_header", acc[:13])
    add("accept_payload", acc[13:])
    add("#", "REJECT 1 (8.4)")
    rej = reject_datagram(v["ks2c"])
    add("reject", rej)
    add("#", "connected, client to server (8.5): KEEPALIVE seq S0+1 ack S0 (right after")
    add("#", "ACCEPT); INPUT (1, -1) seq S0+2 ack S0+1 (after the SNAPSHOT below)")
    ka = sealed_datagram(v["kc2s"], DIR_CLIENT, SEQ | ACK, s0 + 1, s0, v["qport"], KEEPALIVE, b"")
    add("keepalive", ka)
    inp = sealed_datagram(
        v["kc2s"], DIR_CLIENT, SEQ | ACK, s0 + 2, s0 + 1, v["qport"], INPUT, bytes([1, 0xFF])
    )
    add("input", inp)
    add("#", "SNAPSHOT (8.6): tick 345, time 5749512, part 0 of 1, one arena player")
    add("#", "(qport 17, x 512, y 300, hp 100, score 3); to qport 17 with seq S0+1, ack S0+1")
    add("#", "(it acknowledges the KEEPALIVE)")
    kmac = snapshot_mac_key(v["ks2c"])
    prefix = snapshot_prefix(v["tick"], v["snapshot_time"], 0, 1)
    c = snapshot_seal(v["km"], prefix, v["body"])
    t, snap = snapshot_datagram(kmac, SEQ | ACK, s0 + 1, s0 + 1, v["qport"], prefix, c)
    add("kmac", kmac)
    add("snapshot_body", v["body"])
    add("snapshot_prefix", prefix)
    add("snapshot_nonce", nonce_snapshot(0, v["tick"]))
    add("snapshot_c", c)
    add("snapshot_hc", h(c))
    add("snapshot_header", snap[:13])
    add("snapshot_t", t)
    add("snapshot", snap)
    return out


HEX_PER_LINE = 64
NAME_WIDTH = 18


def format_vectors(items: list[tuple[str, object]]) -> str:
    lines = []
    for name, value in items:
        if name == "#":
            lines.append(f"# {value}")
            continue
        lead = f"{name:<{NAME_WIDTH}} = "
        if isinstance(value, bytes):
            hx = value.hex()
            chunks = [hx[i : i + HEX_PER_LINE] for i in range(0, len(hx), HEX_PER_LINE)] or [""]
            lines.append(f"{lead}{chunks[0]}")
            lines.extend(" " * len(lead) + ch for ch in chunks[1:])
        else:
            lines.append(f"{lead}{value}")
    return "\n".join(lines) + "\n"


def self_check() -> None:
    """Opens what vectors() sealed, the way a server and a client would."""
    v = V
    token = dict(vectors())["token"]
    c = open_token(v["kf"], v["protocol_id"], token)
    assert (c["client_id"], c["scope"], c["name"]) == (v["client_id"], v["scope"], "ann")
    d = dict(vectors())
    acc = d["accept_header"] + d["accept_payload"]
    assert aead_open(v["ks2c"], nonce_seq(DIR_SERVER, v["s0"]), acc[:13], acc[13:]) == d["accept_plain"]
    assert snapshot_open(v["km"], snapshot_mac_key(v["ks2c"]), d["snapshot"]) == v["body"]
    bad = bytearray(d["snapshot"])
    bad[-1] ^= 1
    assert snapshot_open(v["km"], snapshot_mac_key(v["ks2c"]), bytes(bad)) is None


# --- the command line ----------------------------------------------------------------


def u64(s: str) -> int:
    n = int(s, 0)
    if not 0 <= n < 2**64:
        raise argparse.ArgumentTypeError(f"{s} is not a u64")
    return n


def u32(s: str) -> int:
    n = int(s, 0)
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(f"{s} is not a u32")
    return n


def hex_of(n: int):
    def parse(s: str) -> bytes:
        b = parse_hex(s, n)
        if b is None:
            raise argparse.ArgumentTypeError(f"expected {2 * n} hex digits")
        return b

    return parse


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="secure_vectors.py",
        description="tickwire secure mode (docs/PROTOCOL.md section 8) in Python: the "
        "golden vectors, and minting and opening connect tokens.",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("vectors", help="print the vector block of docs/PROTOCOL.md section 8.9")
    m = sub.add_parser("mint", help="mint a connect token; prints 410 hex digits")
    m.add_argument(
        "--key-file", "--token-key", dest="key_file", required=True,
        help="the fleet key file (64 hex digits, mode 0600); --token-key as in `tickwire token`",
    )
    m.add_argument("--client-id", required=True, type=u64)
    m.add_argument("--scope", type=u64, default=0, help="0 = any server (default); N = --server-id N")
    m.add_argument("--name", default="", help="the user's name, at most 16 bytes of UTF-8")
    m.add_argument("--protocol-id", type=u32, default=0)
    when = m.add_mutually_exclusive_group()
    when.add_argument("--lifetime", type=int, default=30, help="seconds from now (default 30)")
    when.add_argument("--expires", type=u64, help="unix time, seconds")
    m.add_argument("--c2s", type=hex_of(KEY_LEN), help="fixed Kc2s (default: random)")
    m.add_argument("--s2c", type=hex_of(KEY_LEN), help="fixed Ks2c (default: random)")
    m.add_argument("--nonce", type=hex_of(NONCE_LEN), help="fixed nonce (default: random)")
    o = sub.add_parser("open", help="print what a token holds")
    o.add_argument("--key-file", "--token-key", dest="key_file", required=True, help="the fleet key file")
    o.add_argument("--protocol-id", type=u32, default=0)
    o.add_argument("token", nargs="?", help="410 hex digits (default: standard input)")
    a = ap.parse_args(argv)

    if a.cmd == "vectors":
        self_check()
        sys.stdout.write(format_vectors(vectors()))
        return 0
    try:
        kf = read_key_file(a.key_file)
    except SystemExit as e:
        print(f"secure_vectors.py: {e}", file=sys.stderr)
        return 2
    if a.cmd == "mint":
        name = a.name.encode("utf-8")
        if len(name) > MAX_NAME:
            print(f"secure_vectors.py: --name is {len(name)} bytes; at most 16", file=sys.stderr)
            return 2
        if a.lifetime < 1:
            print("secure_vectors.py: --lifetime must be at least 1", file=sys.stderr)
            return 2
        expires = a.expires if a.expires is not None else int(time.time()) + a.lifetime
        token = mint(
            kf, a.protocol_id, a.client_id, a.scope, name, expires,
            a.c2s or os.urandom(KEY_LEN), a.s2c or os.urandom(KEY_LEN),
            a.nonce or os.urandom(NONCE_LEN),
        )
        sys.stdout.write(token.hex() + "\n")
        return 0
    text = (a.token if a.token is not None else sys.stdin.read()).strip()
    token = parse_hex(text, TOKEN_LEN)
    if token is None:
        print(f"secure_vectors.py: a token is {2 * TOKEN_LEN} hex digits", file=sys.stderr)
        return 1
    try:
        c = open_token(kf, a.protocol_id, token)
    except TokenRefused as e:
        print(f"secure_vectors.py: {e}", file=sys.stderr)
        return 1
    for k in ("client_id", "scope", "expires", "name"):
        print(f"{k}: {c[k]}")
    for k in ("nonce", "c2s", "s2c"):
        print(f"{k}: {c[k].hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
