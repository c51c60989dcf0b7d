/*
 * A C client of the tickwire arena: connects (the socket-owning TwConn), walks (towards
 * the middle of the arena, so the wall never stops it),
 * reads its own position from the snapshots and renders through the interpolation
 * buffer, then says BYE.
 *
 *   client HOST:PORT [MILLISECONDS] [FLEET_KEY_HEX]
 *
 * With a 64-hex-digit fleet key it mints itself a connect token (as an issuer would) and
 * connects in secure mode. Prints one line per stage and a summary; exits 0 when it
 * connected, received snapshots and walked (its x changed), 1 otherwise.
 *
 * Build: cc -std=c11 -I include examples/c/client.c -L <dir> -ltickwire_ffi
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickwire.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Our player's x in the snapshot parts of `tick` (buffered) or of the last snapshot
 * (tick < 0); -1 when we are not in it. */
static int own_x(TwClient *c, uint8_t qport, long long tick, uint32_t parts) {
    for (uint32_t i = 0; i < parts; i++) {
        const uint8_t *part = NULL;
        size_t len = 0;
        TwStatus s = tick < 0 ? tw_client_snapshot_part(c, i, &part, &len)
                              : tw_client_buffered_part(c, (uint32_t)tick, i, &part, &len);
        if (s != TW_STATUS_OK) return -1;
        TwArenaPlayer p;
        for (uint32_t k = 0; tw_arena_player(part, len, k, &p) == TW_STATUS_OK; k++) {
            if (p.qport == qport) return p.x;
        }
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s HOST:PORT [MILLISECONDS] [FLEET_KEY_HEX]\n", argv[0]);
        return 2;
    }
    long run_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
    TwClientConfig cfg;
    tw_client_config_default(&cfg);
    cfg.interp = 1;
    cfg.connect_timeout_ms = 3000;

    TwConn *conn = NULL;
    TwStatus s;
    if (argc > 3) {
        uint8_t key[TW_KEY_LEN];
        if (strlen(argv[3]) != 2 * TW_KEY_LEN) {
            fprintf(stderr, "fleet key: %d hex digits expected\n", 2 * TW_KEY_LEN);
            return 2;
        }
        for (int i = 0; i < TW_KEY_LEN; i++) {
            int hi = hexval(argv[3][2 * i]), lo = hexval(argv[3][2 * i + 1]);
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "fleet key: not hex\n");
                return 2;
            }
            key[i] = (uint8_t)(hi * 16 + lo);
        }
        uint8_t token[TW_TOKEN_LEN];
        s = tw_token_mint(key, cfg.protocol_id, 7, 0, "c-client", tw_unix_now(), token);
        if (s != TW_STATUS_OK) {
            fprintf(stderr, "mint: %s\n", tw_status_message(s));
            return 1;
        }
        s = tw_conn_connect_secure(argv[1], &cfg, token, sizeof token, 3000, &conn);
    } else {
        s = tw_conn_connect(argv[1], &cfg, 3000, &conn);
    }
    if (s != TW_STATUS_OK) {
        fprintf(stderr, "connect %s: %s\n", argv[1], tw_status_message(s));
        return 1;
    }
    TwClient *c = tw_conn_client(conn);
    uint32_t state = 0;
    uint8_t qport = 0;
    tw_client_state(c, &state, &qport);
    printf("connected qport=%u secure=%d\n", qport, argc > 3);

    int first_x = -1, last_x = -1;
    int8_t dir = 1;
    unsigned snapshots = 0, frames = 0, blended = 0;
    uint64_t end = tw_now_us() + (uint64_t)run_ms * 1000;
    uint64_t next_input = 0, next_frame = 0;
    while (tw_now_us() < end) {
        uint64_t now = tw_now_us();
        if (now >= next_input) {
            s = tw_conn_send_input(conn, dir, 0);
            if (s != TW_STATUS_OK) {
                fprintf(stderr, "input: %s\n", tw_status_message(s));
                break;
            }
            next_input = now + 100000;
        }
        TwEvent ev;
        s = tw_conn_poll(conn, 5, &ev);
        if (s != TW_STATUS_OK) {
            fprintf(stderr, "poll: %s\n", tw_status_message(s));
            break;
        }
        if (ev.kind == TW_EVENT_KIND_SNAPSHOT) {
            snapshots++;
            uint32_t parts = 0;
            tw_client_snapshot(c, NULL, NULL, &parts);
            int x = own_x(c, qport, -1, parts);
            if (x >= 0) {
                if (first_x < 0) {
                    first_x = x;
                    dir = x < 512 ? 1 : -1;
                    next_input = 0;
                }
                last_x = x;
            }
        } else if (ev.kind == TW_EVENT_KIND_DISCONNECTED) {
            fprintf(stderr, "disconnected: reason %u\n", ev.reason);
            break;
        }
        now = tw_now_us();
        if (now >= next_frame) {
            /* A 60 fps renderer: blend our position between the two snapshots. */
            TwFrame f;
            if (tw_client_interpolate(c, now, &f) == TW_STATUS_OK) {
                frames++;
                if (f.has_to) {
                    int a = own_x(c, qport, f.from_tick, f.from_parts);
                    int b = own_x(c, qport, f.to_tick, f.to_parts);
                    if (a >= 0 && b >= 0) blended++;
                }
            }
            next_frame = now + 16667;
        }
    }
    TwClientStats st;
    tw_client_stats(c, &st);
    printf("walked x %d -> %d snapshots=%u frames=%u blended=%u usable=%llu/%llu delay_us=%llu\n",
           first_x, last_x, snapshots, frames, blended,
           (unsigned long long)st.interp_usable, (unsigned long long)st.interp_ticks_spanned,
           (unsigned long long)st.interp_delay_us);
    tw_conn_free(conn);
    return (snapshots > 0 && first_x >= 0 && last_x != first_x && blended > 0) ? 0 : 1;
}
