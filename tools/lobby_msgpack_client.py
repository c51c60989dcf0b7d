#!/usr/bin/env python3
"""A tickwire lobby client that speaks MessagePack bodies (frame type 1), written from
docs/LOBBY.md ("MessagePack bodies") and docs/PROTOCOL.md section 7 alone, with Python's
`msgpack` package as the codec: an independent check of the server's encoding.

    lobby_msgpack_client.py --server 127.0.0.1:7778 [--timeout S] [--tag T]

Two users log in over two connections, one creates a room, the other lists the rooms and
enters; they chat, whisper and echo, one leaves; then bad MessagePack and a reserved frame
type are sent. Every frame the server sends must be type 1 and decode to exactly the
documented array. Prints what it saw, one line per step, then `ok`, and exits 0; exits 1
with the reason on the first mismatch, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

import msgpack

# Message ids (PROTOCOL.md section 7).
ECHO = 1
LOGIN_REQ, LOGIN_RES = 10, 11
ROOM_LIST_REQ, ROOM_LIST_RES = 20, 21
ROOM_CREATE_REQ, ROOM_CREATE_RES = 22, 23
ROOM_ENTER_REQ, ROOM_ENTER_RES, ROOM_USER_ENTER_NTF = 24, 25, 26
ROOM_LEAVE_REQ, ROOM_LEAVE_RES, ROOM_USER_LEAVE_NTF = 27, 28, 29
ROOM_CHAT_REQ, ROOM_CHAT_RES, ROOM_CHAT_NTF = 30, 31, 32
WHISPER_REQ, WHISPER_RES, WHISPER_NTF = 40, 41, 42
ERROR = 99

HEADER = struct.Struct(">HHB")  # size (the whole frame), id, type


class Failed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)


class Conn:
    """One lobby connection speaking type 1."""

    def __init__(self, server: str, timeout: float):
        host, port = server.rsplit(":", 1)
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_raw(self, msg_id: int, body: bytes, frame_type: int = 1) -> None:
        self.sock.sendall(HEADER.pack(HEADER.size + len(body), msg_id, frame_type) + body)

    def send(self, msg_id: int, fields: list) -> None:
        self.send_raw(msg_id, msgpack.packb(fields, use_bin_type=True))

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def recv_frame(self) -> tuple[int, int, bytes]:
        size, msg_id, frame_type = HEADER.unpack(self._exact(HEADER.size))
        check(HEADER.size <= size <= 4096, f"frame size {size}")
        return msg_id, frame_type, self._exact(size - HEADER.size)

    def recv(self, want_id: int) -> list:
        """The next frame, which must be `want_id`, type 1, one array and nothing more."""
        msg_id, frame_type, body = self.recv_frame()
        check(frame_type == 1, f"message {msg_id} came as type {frame_type}, not 1")
        # unpackb raises on trailing bytes (ExtraData) and on a short body.
        fields = msgpack.unpackb(body, raw=False, strict_map_key=True)
        if msg_id == ERROR and want_id != ERROR:
            raise Failed(f"ERROR {fields} while waiting for {want_id}")
        check(msg_id == want_id, f"got message {msg_id} {fields!r}, wanted {want_id}")
        check(isinstance(fields, list), f"message {msg_id}: body {fields!r} is not an array")
        return fields

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def run(server: str, timeout: float, tag: str) -> None:
    ann_name, bob_name = f"ann{tag}", f"bob{tag}"
    ann = Conn(server, timeout)
    ann.send(LOGIN_REQ, [ann_name])
    result, ann_id, ticket = ann.recv(LOGIN_RES)
    check(result == 0 and ann_id > 0 and ticket > 0, f"ann's login: {result}")
    print(f"login {ann_name} user {ann_id}")

    ann.send(ROOM_CREATE_REQ, ["py room", 8])
    result, room = ann.recv(ROOM_CREATE_RES)
    check(result == 0 and room > 0, f"create: {result}")
    print(f"created room {room}")

    bob = Conn(server, timeout)
    bob.send(LOGIN_REQ, [bob_name])
    result, bob_id, _ = bob.recv(LOGIN_RES)
    check(result == 0, f"bob's login: {result}")
    print(f"login {bob_name} user {bob_id}")

    # A request with no fields is the empty array; a list is its count, then one array of
    # arrays.
    bob.send(ROOM_LIST_REQ, [])
    result, count, rooms = bob.recv(ROOM_LIST_RES)
    check(result == 0 and count == len(rooms), f"list: {result} {count} {rooms}")
    check([room, "py room", 1, 8] in rooms, f"room {room} not listed in {rooms}")
    print(f"listed {count} room(s)")

    bob.send(ROOM_ENTER_REQ, [room])
    result, entered, count, users = bob.recv(ROOM_ENTER_RES)
    check(result == 0 and entered == room, f"enter: {result} {entered}")
    check(count == 2 and users == [[ann_id, ann_name], [bob_id, bob_name]], f"users {users}")
    check(ann.recv(ROOM_USER_ENTER_NTF) == [bob_id, bob_name], "no enter notification")
    print(f"{bob_name} entered; {ann_name} was told")

    bob.send(ROOM_CHAT_REQ, ["hello from python"])
    check(bob.recv(ROOM_CHAT_RES) == [0], "chat refused")
    check(bob.recv(ROOM_CHAT_NTF) == [bob_id, "hello from python"], "no chat back to bob")
    check(ann.recv(ROOM_CHAT_NTF) == [bob_id, "hello from python"], "no chat to ann")
    print("chat: <%s> hello from python" % bob_name)

    ann.send(WHISPER_REQ, [bob_name, "psst"])
    check(ann.recv(WHISPER_RES) == [0], "whisper refused")
    check(bob.recv(WHISPER_NTF) == [ann_id, ann_name, "psst"], "no whisper")
    print(f"whisper: *{ann_name}* psst")

    # ECHO is [bin], and comes back as the same frame.
    ann.send(ECHO, [b"\x00\x01\xfe"])
    check(ann.recv(ECHO) == [b"\x00\x01\xfe"], "echo differs")
    # Integers of a wider encoding than needed are accepted: room as a uint 32.
    wide = b"\x91\xce" + struct.pack(">I", 0xFFFFFFFF)
    ann.send_raw(ROOM_ENTER_REQ, wide)
    result, zero_room, zero_count, no_users = ann.recv(ROOM_ENTER_RES)
    check((result, zero_room, zero_count, no_users) == (8, 0, 0, []), f"wide: {result}")
    print("echo and a uint 32 room id: ok")

    bob.send(ROOM_LEAVE_REQ, [])
    check(bob.recv(ROOM_LEAVE_RES) == [0], "leave refused")
    check(ann.recv(ROOM_USER_LEAVE_NTF) == [bob_id], "no leave notification")
    print(f"{bob_name} left; {ann_name} was told")

    # Bad MessagePack (a LOGIN_REQ of two elements): ERROR 4, as type 1, then a close.
    bob.send(LOGIN_REQ, ["x", "y"])
    check(bob.recv(ERROR) == [4], "no ERROR 4")
    check(bob.closed(), "bob's connection stayed open after ERROR")
    print("bad MessagePack: ERROR 4 in type 1, closed")

    # A reserved type: ERROR 2, in ann's format (type 1).
    ann.send_raw(ROOM_LIST_REQ, b"\x90", frame_type=2)
    check(ann.recv(ERROR) == [2], "no ERROR 2")
    check(ann.closed(), "ann's connection stayed open after ERROR")
    print("type 2: ERROR 2 in type 1, closed")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True, help="the lobby's host:port")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per socket wait")
    p.add_argument("--tag", default="-py", help="suffix of the two user names")
    args = p.parse_args()
    try:
        run(args.server, args.timeout, args.tag)
    except (Failed, EOFError, OSError, ValueError, msgpack.UnpackException) as e:
        print(f"failed: {type(e).__name__}: {e}", flush=True)
        return 1
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
