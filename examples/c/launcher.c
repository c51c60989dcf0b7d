/*
 * A C launcher that embeds a tickwire server running a tiny C game, and checks it with a
 * sans-IO C client over its own POSIX UDP socket.
 *
 * The game, "dial": each player sets a one-byte value (kind 0x20, payload 1 byte); every
 * tick the snapshot carries one entity [player, value] per player. A value of 0 is
 * answered to that player alone (kind 0x21, "zero").
 *
 *   launcher
 *
 * Phase 1: the host runs on a thread of its own (tw_host_spawn); the client connects,
 * sets 42, waits for a snapshot that shows it, sends 0 and waits for the private answer,
 * says BYE; the host is stopped. Phase 2: the host runs on this thread (tw_host_run) and
 * another thread stops it. Prints "launcher ok" and exits 0 when all of that held.
 *
 * Build: cc -std=c11 -I include examples/c/launcher.c libtickwire_ffi.a -lpthread -ldl -lm
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tickwire.h"

#define DIAL 0x20
#define ZERO 0x21

struct dial {
    int16_t value[256]; /* -1: no such player */
    unsigned connects, disconnects, inputs, steps;
};

static uint8_t knows_kind(void *user, uint8_t kind) {
    (void)user;
    return kind == DIAL;
}

static uint8_t check_input(void *user, uint8_t kind, const uint8_t *data, size_t len) {
    (void)user, (void)kind, (void)data;
    return len == 1;
}

static void on_connect(void *user, uint8_t player, const char *name) {
    struct dial *g = user;
    (void)name;
    g->value[player] = 0;
    g->connects++;
}

static void on_disconnect(void *user, uint8_t player) {
    struct dial *g = user;
    g->value[player] = -1;
    g->disconnects++;
}

static void on_input(void *user, TwContext *cx, uint8_t player, uint8_t kind,
                     const uint8_t *data, size_t len) {
    struct dial *g = user;
    (void)kind, (void)len;
    g->value[player] = data[0];
    g->inputs++;
    if (data[0] == 0) {
        static const uint8_t msg[] = "zero";
        tw_context_send(cx, player, ZERO, msg, sizeof msg - 1);
    }
}

static void on_step(void *user, uint32_t tick) {
    struct dial *g = user;
    (void)tick;
    g->steps++;
}

static void on_snapshot(void *user, TwSnapshotWriter *w) {
    struct dial *g = user;
    for (int p = 0; p < 256; p++) {
        if (g->value[p] >= 0) {
            uint8_t e[2] = {(uint8_t)p, (uint8_t)g->value[p]};
            tw_snapshot_writer_entity(w, e, sizeof e);
        }
    }
}

static int fail(const char *what, TwStatus s) {
    fprintf(stderr, "launcher: %s: %s\n", what, tw_status_message(s));
    return 1;
}

/* Drives a sans-IO client over `fd` until `want` returns nonzero or `ms` pass; 0 on
 * success. `want` sees every event. */
typedef int (*want_fn)(TwClient *c, const TwEvent *ev, void *arg);

static int drive(TwClient *c, int fd, unsigned ms, want_fn want, void *arg) {
    uint8_t buf[TW_MAX_DATAGRAM];
    uint8_t in[2048];
    uint64_t end = tw_now_us() + (uint64_t)ms * 1000;
    while (tw_now_us() < end) {
        uint64_t now = tw_now_us();
        size_t n = 0;
        while (tw_client_poll_transmit(c, now, buf, sizeof buf, &n) == TW_STATUS_OK && n > 0) {
            if (send(fd, buf, n, 0) < 0) perror("send");
        }
        uint64_t wake = tw_client_poll_timeout(c);
        uint64_t wait = wake > now ? (wake - now) / 1000 : 0;
        if (wait > 10) wait = 10;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        TwEvent ev = {0};
        if (poll(&pfd, 1, (int)wait) > 0) {
            ssize_t got = recv(fd, in, sizeof in, 0);
            if (got > 0) tw_client_handle_datagram(c, tw_now_us(), in, (size_t)got, &ev);
        } else {
            tw_client_handle_timeout(c, tw_now_us(), &ev);
        }
        if (want(c, &ev, arg)) return 0;
        if (ev.kind == TW_EVENT_KIND_DISCONNECTED || ev.kind == TW_EVENT_KIND_REJECTED) return 1;
    }
    return 1;
}

static int want_connected(TwClient *c, const TwEvent *ev, void *arg) {
    (void)c, (void)arg;
    return ev->kind == TW_EVENT_KIND_CONNECTED;
}

/* A snapshot whose entity for our qport carries the value *arg. */
static int want_value(TwClient *c, const TwEvent *ev, void *arg) {
    if (ev->kind != TW_EVENT_KIND_SNAPSHOT) return 0;
    uint8_t qport = 0;
    tw_client_state(c, NULL, &qport);
    const uint8_t *part;
    size_t len;
    for (uint32_t i = 0; tw_client_snapshot_part(c, i, &part, &len) == TW_STATUS_OK; i++) {
        /* A part: count u8, then `count` two-byte entities. */
        for (size_t k = 0; len > 0 && k < part[0] && 1 + 2 * k + 1 < len; k++) {
            if (part[1 + 2 * k] == qport && part[2 + 2 * k] == *(uint8_t *)arg) return 1;
        }
    }
    return 0;
}

static int want_zero_reply(TwClient *c, const TwEvent *ev, void *arg) {
    (void)arg;
    if (ev->kind != TW_EVENT_KIND_GAME || ev->game_kind != ZERO) return 0;
    const uint8_t *p;
    size_t len;
    tw_client_game_payload(c, &p, &len);
    return len == 4 && memcmp(p, "zero", 4) == 0;
}

static void *stop_later(void *h) {
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    tw_host_stop(h);
    return NULL;
}

int main(void) {
    struct dial game;
    memset(&game, 0, sizeof game);
    for (int p = 0; p < 256; p++) game.value[p] = -1;
    TwGame cb = {
        .user = &game,
        .knows_kind = knows_kind,
        .check_input = check_input,
        .connect = on_connect,
        .disconnect = on_disconnect,
        .input = on_input,
        .step = on_step,
        .snapshot = on_snapshot,
    };
    TwHostConfig hc;
    tw_host_config_default(&hc);
    hc.bind = "127.0.0.1:0";
    TwHost *host = NULL;
    TwStatus s = tw_host_new(&hc, &cb, &host);
    if (s != TW_STATUS_OK) return fail("host", s);
    uint16_t port = tw_host_port(host);
    printf("launcher: dial host on 127.0.0.1:%u\n", port);
    s = tw_host_spawn(host);
    if (s != TW_STATUS_OK) return fail("spawn", s);
    if (tw_host_spawn(host) != TW_STATUS_ERR_BUSY) return fail("second spawn", s);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("socket");
        return 1;
    }
    TwClient *c = NULL;
    s = tw_client_new(NULL, tw_now_us(), &c);
    if (s != TW_STATUS_OK) return fail("client", s);
    if (drive(c, fd, 3000, want_connected, NULL)) return fail("connect", TW_STATUS_ERR_TIMED_OUT);
    uint8_t v = 42;
    s = tw_client_send_game(c, DIAL, &v, 1);
    if (s != TW_STATUS_OK) return fail("send", s);
    if (drive(c, fd, 3000, want_value, &v)) return fail("snapshot with 42", TW_STATUS_ERR_TIMED_OUT);
    printf("launcher: snapshot shows our value 42\n");
    uint8_t zero = 0;
    tw_client_send_game(c, DIAL, &zero, 1);
    if (drive(c, fd, 3000, want_zero_reply, NULL)) return fail("private reply", TW_STATUS_ERR_TIMED_OUT);
    printf("launcher: private reply \"zero\"\n");
    /* Protocol kinds are not the game's. */
    if (tw_client_send_game(c, 0x05, &v, 1) != TW_STATUS_ERR_NOT_GAME_KIND) return fail("kind", s);
    tw_client_disconnect(c);
    uint8_t buf[TW_MAX_DATAGRAM];
    size_t n = 0;
    while (tw_client_poll_transmit(c, tw_now_us(), buf, sizeof buf, &n) == TW_STATUS_OK && n > 0)
        send(fd, buf, n, 0);
    tw_client_free(c);
    close(fd);
    /* The BYE reaches the game as a disconnect before the stop. */
    for (int i = 0; i < 200 && game.disconnects == 0; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    s = tw_host_stop(host);
    if (s != TW_STATUS_OK) return fail("stop", s);
    printf("launcher: connects=%u disconnects=%u inputs=%u steps=%u\n", game.connects,
           game.disconnects, game.inputs, game.steps);
    if (game.connects != 1 || game.disconnects != 1 || game.inputs != 2 || game.steps == 0) {
        fprintf(stderr, "launcher: the game saw the wrong things\n");
        return 1;
    }

    tw_host_free(host);

    /* Phase 2: a second host on this thread, stopped from another one after 200 ms. */
    TwHost *h2 = NULL;
    s = tw_host_new(&hc, &cb, &h2);
    if (s != TW_STATUS_OK) return fail("host 2", s);
    unsigned steps = game.steps;
    pthread_t t;
    uint64_t t0 = tw_now_us();
    if (pthread_create(&t, NULL, stop_later, h2) != 0) return 1;
    s = tw_host_run(h2);
    uint64_t ran_ms = (tw_now_us() - t0) / 1000;
    pthread_join(t, NULL);
    if (s != TW_STATUS_OK) return fail("run", s);
    tw_host_free(h2);
    printf("launcher: ran on this thread for %llu ms, %u steps\n", (unsigned long long)ran_ms,
           game.steps - steps);
    if (ran_ms < 150 || game.steps == steps) {
        fprintf(stderr, "launcher: tw_host_run did not run until the stop\n");
        return 1;
    }
    printf("launcher ok\n");
    return 0;
}
