/* The load generator and backend of bench/stream_bench.sh (compiled by it with cc; Linux only,
 * libc only). One thread, epoll, non-blocking sockets, everything on 127.0.0.1.
 *
 *   stream_tool serve ECHO_PORT SOURCE_PORT BYTES
 *       the backend: on ECHO_PORT sends back what it reads; on SOURCE_PORT writes BYTES
 *       (zeros) to each connection, then closes it. Runs until killed.
 *   stream_tool conn PORT CONC SECONDS|-N PAYLOAD_BYTES
 *       short connections: CONC at a time, each connects, sends PAYLOAD_BYTES, reads as
 *       many back (an echo), closes; new ones start until SECONDS pass (or, with -N, until N
 *       have completed). Prints "conns DONE errors ERRS seconds ELAPSED".
 *   stream_tool bulk PORT BYTES
 *       one connection that reads until EOF; prints "bytes GOT seconds ELAPSED" (the run
 *       fails when GOT is not BYTES).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)
static char buf[BUF];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char* what) {
    perror(what);
    exit(1);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    return a;
}

static int listener(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = loopback(port);
    if (bind(fd, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(fd, 4096) != 0) {
        die("stream_tool: listen");
    }
    return fd;
}

/* ---- serve ---------------------------------------------------------------------------------- */

enum { ECHO_LISTEN = 1, SOURCE_LISTEN = 2, ECHO_CONN = 3, SOURCE_CONN = 4 };
struct conn {
    int fd, kind;
    long long left; /* source: bytes still to write; echo: bytes read but not yet written */
    char* pending;  /* echo: the unwritten bytes (left of them) */
};

static _Noreturn void serve(int echo_port, int source_port, long long bytes) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn le = {listener(echo_port), ECHO_LISTEN, 0, NULL};
    struct conn ls = {listener(source_port), SOURCE_LISTEN, 0, NULL};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &le};
    epoll_ctl(ep, EPOLL_CTL_ADD, le.fd, &ev);
    ev.data.ptr = &ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls.fd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn* c = evs[i].data.ptr;
            if (c->kind == ECHO_LISTEN || c->kind == SOURCE_LISTEN) {
                int fd;
                while ((fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct conn* nc = calloc(1, sizeof(*nc));
                    nc->fd = fd;
                    nc->kind = c->kind == ECHO_LISTEN ? ECHO_CONN : SOURCE_CONN;
                    nc->left = nc->kind == SOURCE_CONN ? bytes : 0;
                    struct epoll_event e = {
                        .events = nc->kind == SOURCE_CONN ? EPOLLOUT : EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            int done = 0;
            if (c->kind == SOURCE_CONN) {
                while (c->left > 0) {
                    ssize_t w = send(c->fd, buf, c->left < BUF ? (size_t)c->left : BUF,
                                     MSG_NOSIGNAL);
                    if (w < 0) {
                        done = errno != EAGAIN;
                        break;
                    }
                    c->left -= w;
                }
                done = done || c->left == 0;
            } else {
                for (;;) {
                    if (c->left > 0) { /* the echo of the last read is not all written */
                        ssize_t w = send(c->fd, c->pending, (size_t)c->left, MSG_NOSIGNAL);
                        if (w < 0) {
                            done = errno != EAGAIN;
                            break;
                        }
                        memmove(c->pending, c->pending + w, (size_t)(c->left - w));
                        c->left -= w;
                        if (c->left > 0) {
                            break;
                        }
                    }
                    ssize_t r = recv(c->fd, buf, BUF, 0);
                    if (r <= 0) {
                        done = r == 0 || errno != EAGAIN;
                        break;
                    }
                    c->pending = realloc(c->pending, (size_t)r);
                    memcpy(c->pending, buf, (size_t)r);
                    c->left = r;
                }
                if (!done) {
                    struct epoll_event e = {.events = c->left > 0 ? EPOLLOUT : EPOLLIN,
                                            .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                }
            }
            if (done) {
                close(c->fd);
                free(c->pending);
                free(c);
            }
        }
    }
}

/* ---- conn ----------------------------------------------------------------------------------- */

struct client {
    int fd, sent, got;
};

static int conn_run(int port, int conc, double secs, long long target, int payload) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct client* cs = calloc((size_t)conc, sizeof(*cs));
    struct sockaddr_in a = loopback(port);
    memset(buf, 'x', (size_t)payload);
    long long done = 0, errs = 0, started = 0;
    double t0 = now(), end = t0 + secs;
    int stopping = 0, active = 0;
#define START(c)                                                                          \
    do {                                                                                  \
        (c)->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);         \
        (c)->sent = (c)->got = 0;                                                         \
        if (connect((c)->fd, (struct sockaddr*)&a, sizeof(a)) != 0 && errno != EINPROGRESS) \
            die("stream_tool: connect");                                                  \
        struct epoll_event e = {.events = EPOLLOUT, .data.ptr = (c)};                     \
        epoll_ctl(ep, EPOLL_CTL_ADD, (c)->fd, &e);                                        \
        started++;                                                                        \
        active++;                                                                         \
    } while (0)
    for (int i = 0; i < conc && (target == 0 || started < target); i++) {
        START(&cs[i]);
    }
    struct epoll_event evs[256];
    while (active > 0) {
        int n = epoll_wait(ep, evs, 256, 1000);
        if (target == 0 && now() >= end) {
            stopping = 1;
        }
        for (int i = 0; i < n; i++) {
            struct client* c = evs[i].data.ptr;
            int finished = 0, failed = (evs[i].events & EPOLLERR) != 0;
            if (!failed && c->sent < payload) {
                ssize_t w = send(c->fd, buf + c->sent, (size_t)(payload - c->sent), MSG_NOSIGNAL);
                if (w > 0) {
                    c->sent += (int)w;
                } else if (errno != EAGAIN) {
                    failed = 1;
                }
                if (c->sent == payload) {
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                }
            } else if (!failed) {
                char in[4096];
                ssize_t r = recv(c->fd, in, sizeof(in), 0);
                if (r > 0) {
                    c->got += (int)r;
                    finished = c->got >= payload;
                } else if (r == 0 || errno != EAGAIN) {
                    failed = 1;
                }
            }
            if (finished || failed) {
                close(c->fd);
                active--;
                done += finished;
                errs += failed;
                if (!stopping && (target == 0 || started < target)) {
                    START(c);
                }
            }
        }
    }
    printf("conns %lld errors %lld seconds %.3f\n", done, errs, now() - t0);
    return 0;
}

/* ---- bulk ----------------------------------------------------------------------------------- */

static int bulk(int port, long long bytes) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(port);
    double t0 = now();
    if (connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
        die("stream_tool: connect");
    }
    long long got = 0;
    ssize_t r;
    while ((r = recv(fd, buf, BUF, 0)) > 0) {
        got += r;
    }
    double t = now() - t0;
    printf("bytes %lld seconds %.3f\n", got, t);
    return got == bytes ? 0 : 1;
}

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc == 5 && strcmp(argv[1], "serve") == 0) {
        serve(atoi(argv[2]), atoi(argv[3]), atoll(argv[4]));
    }
    if (argc == 6 && strcmp(argv[1], "conn") == 0) {
        double secs = atof(argv[4]);
        long long target = secs < 0 ? (long long)-secs : 0;
        int payload = atoi(argv[5]);
        if (payload < 1 || payload > BUF) {
            fprintf(stderr, "stream_tool: payload of 1 to %d bytes\n", BUF);
            return 2;
        }
        return conn_run(atoi(argv[2]), atoi(argv[3]), secs, target, payload);
    }
    if (argc == 4 && strcmp(argv[1], "bulk") == 0) {
        return bulk(atoi(argv[2]), atoll(argv[3]));
    }
    fprintf(stderr,
            "usage: stream_tool serve ECHO_PORT SOURCE_PORT BYTES\n"
            "       stream_tool conn PORT CONC SECONDS|-N PAYLOAD_BYTES\n"
            "       stream_tool bulk PORT BYTES\n");
    return 2;
}
