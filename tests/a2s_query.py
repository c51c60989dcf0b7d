#!/usr/bin/env python3
"""Queries an A2S server with python-a2s and prints info, players and rules as JSON.

Usage: python3 tests/a2s_query.py HOST PORT

Used by tests/a2s_tool.rs as an independent A2S client. Needs the `python-a2s` package
(`tools/install-test-deps.sh`).
"""
import json
import sys

import a2s


def main():
    if len(sys.argv) != 3:
        print("usage: a2s_query.py HOST PORT", file=sys.stderr)
        return 2
    addr = (sys.argv[1], int(sys.argv[2]))
    timeout = 2.0
    info = a2s.info(addr, timeout=timeout)
    players = a2s.players(addr, timeout=timeout)
    rules = a2s.rules(addr, timeout=timeout)
    out = {
        "info": {
            "protocol": info.protocol,
            "server_name": info.server_name,
            "map_name": info.map_name,
            "folder": info.folder,
            "game": info.game,
            "app_id": info.app_id,
            "player_count": info.player_count,
            "max_players": info.max_players,
            "bot_count": info.bot_count,
            "server_type": info.server_type,
            "platform": info.platform,
            "password_protected": info.password_protected,
            "vac_enabled": info.vac_enabled,
            "version": info.version,
            "port": info.port,
        },
        "players": [
            {"index": p.index, "name": p.name, "score": p.score, "duration": p.duration}
            for p in players
        ],
        "rules": rules,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
