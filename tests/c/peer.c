/* A peer that knows nothing of typed-ipc but the header generated from the Rust type
 * (`reading.h`, written by tests/foreign.rs with ipc::schema::c_header): it moves
 * `Reading`s with the raw calls alone, as any C program would.
 *
 *   peer MODE WHERE [N]
 *
 * MODE is TRANSPORT-send, TRANSPORT-recv or TRANSPORT-bad, TRANSPORT one of
 *   mq    a POSIX queue named WHERE (send creates it, without any schema header)
 *   sysv  the System V queue of key WHERE (msgsnd/msgrcv: a long mtype, then the Reading)
 *   fd    the FIFO at WHERE, or stdin/stdout if WHERE is "-" (write/read, back to back)
 *   unix  a Unix stream socket: connects to the listener at WHERE (send/recv, back to back)
 *   unixl the same, as the listener: binds WHERE, accepts one client, removes WHERE
 *   tcp   TCP: connects to 127.0.0.1, port WHERE (send/recv, back to back)
 * send sends readings 0..N-1; recv receives N and checks each is intact and in order
 * (then, on a stream, that the stream ends); bad sends reading 0, a reading whose kind is
 * no Kind (7), a short record (5 bytes; on a stream: last), and reading 2.
 * Exit status: 0 when all is well, 2 for a failed call, 3 for a wrong message. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "reading.h"

/* What msgsnd(2) documents: the type, then the message. */
struct msgbuf_reading {
    long mtype;
    Reading r;
};

static Reading make(uint32_t i) {
    Reading r;
    memset(&r, 0, sizeof r);
    r.seq = i;
    r.kind = (i % 2) ? Kind_Humidity : Kind_Temp;
    r.value = (float)i * 0.5f;
    return r;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void check(const Reading *r, uint32_t i) {
    Reading want = make(i);
    if (memcmp(r, &want, sizeof want) != 0) {
        fprintf(stderr, "message %u: got seq %u kind %u value %f\n", i, r->seq,
                (unsigned)r->kind, (double)r->value);
        exit(3);
    }
}

/* Whether the stream is a socket: then send(2)/recv(2), else write(2)/read(2). */
static int on_socket;

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = on_socket ? send(fd, c, n, MSG_NOSIGNAL) : write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        c += w;
        n -= (size_t)w;
    }
}

/* 1 once n bytes are read, 0 at the end of the stream before any of them. */
static int read_all(int fd, void *p, size_t n) {
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = on_socket ? recv(fd, c + got, n - got, 0) : read(fd, c + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read");
        if (r == 0) {
            if (got == 0)
                return 0;
            fprintf(stderr, "the stream ended %zu bytes into a record\n", got);
            exit(3);
        }
        got += (size_t)r;
    }
    return 1;
}

/* The three records a careless writer sends among good ones. */
static Reading bad_kind(void) {
    Reading r = make(1);
    r.kind = 7; /* no Kind: the header's enum is its repr integer */
    return r;
}

static int open_stream(const char *where, int for_write) {
    if (strcmp(where, "-") == 0)
        return for_write ? 1 : 0;
    int fd = open(where, for_write ? O_WRONLY : O_RDONLY);
    if (fd < 0)
        die("open");
    return fd;
}

/* A connected Unix stream socket: to the listener at `path`, or (listen) from the one
 * client that connects to a listener this program binds at `path` and then removes. */
static int open_unix(const char *path, int listen_there) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "path too long: %s\n", path);
        exit(2);
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    on_socket = 1;
    if (!listen_there) {
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
            die("connect");
        return fd;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind");
    if (listen(fd, 1) < 0)
        die("listen");
    int conn = accept(fd, NULL, NULL);
    if (conn < 0)
        die("accept");
    close(fd);
    unlink(path);
    return conn;
}

/* A TCP connection to 127.0.0.1:port. */
static int open_tcp(const char *port) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)strtoul(port, NULL, 10));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    on_socket = 1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    return fd;
}

static void mq(const char *mode, const char *name, uint32_t n) {
    if (strcmp(mode, "recv") == 0) {
        mqd_t q = mq_open(name, O_RDONLY);
        if (q == (mqd_t)-1)
            die("mq_open");
        for (uint32_t i = 0; i < n; i++) {
            Reading r;
            ssize_t got = mq_receive(q, (char *)&r, sizeof r, NULL);
            if (got != (ssize_t)sizeof r)
                die("mq_receive");
            check(&r, i);
        }
        mq_close(q);
        return;
    }
    struct mq_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = 8;
    attr.mq_msgsize = READING_SIZE;
    mqd_t q = mq_open(name, O_WRONLY | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1)
        die("mq_open");
    if (strcmp(mode, "send") == 0) {
        for (uint32_t i = 0; i < n; i++) {
            Reading r = make(i);
            if (mq_send(q, (const char *)&r, sizeof r, 0) < 0)
                die("mq_send");
        }
    } else {
        Reading r0 = make(0), r1 = bad_kind(), r2 = make(2);
        if (mq_send(q, (const char *)&r0, sizeof r0, 0) < 0 ||
            mq_send(q, (const char *)&r1, sizeof r1, 0) < 0 ||
            mq_send(q, (const char *)&r2, 5, 0) < 0 ||
            mq_send(q, (const char *)&r2, sizeof r2, 0) < 0)
            die("mq_send");
    }
    mq_close(q);
}

static void sysv(const char *mode, const char *key, uint32_t n) {
    int id = msgget((key_t)strtol(key, NULL, 10), 0);
    if (id < 0)
        die("msgget");
    struct msgbuf_reading m;
    if (strcmp(mode, "recv") == 0) {
        for (uint32_t i = 0; i < n; i++) {
            ssize_t got = msgrcv(id, &m, sizeof m.r, 0, 0);
            if (got != (ssize_t)sizeof m.r)
                die("msgrcv");
            check(&m.r, i);
        }
        return;
    }
    m.mtype = 1;
    if (strcmp(mode, "send") == 0) {
        for (uint32_t i = 0; i < n; i++) {
            m.r = make(i);
            if (msgsnd(id, &m, sizeof m.r, 0) < 0)
                die("msgsnd");
        }
        return;
    }
    Reading records[4] = {make(0), bad_kind(), make(2), make(2)};
    size_t sizes[4] = {sizeof(Reading), sizeof(Reading), 5, sizeof(Reading)};
    for (int k = 0; k < 4; k++) {
        m.r = records[k];
        if (msgsnd(id, &m, sizes[k], 0) < 0)
            die("msgsnd");
    }
}

static void stream(const char *mode, int fd, uint32_t n) {
    if (strcmp(mode, "recv") == 0) {
        Reading r;
        for (uint32_t i = 0; i < n; i++) {
            if (!read_all(fd, &r, sizeof r)) {
                fprintf(stderr, "the stream ended after %u of %u messages\n", i, n);
                exit(3);
            }
            check(&r, i);
        }
        if (read_all(fd, &r, sizeof r)) {
            fprintf(stderr, "a message after the last one\n");
            exit(3);
        }
    } else if (strcmp(mode, "send") == 0) {
        for (uint32_t i = 0; i < n; i++) {
            Reading r = make(i);
            write_all(fd, &r, sizeof r);
        }
    } else {
        Reading records[4] = {make(0), bad_kind(), make(2), make(3)};
        size_t sizes[4] = {sizeof(Reading), sizeof(Reading), sizeof(Reading), 5};
        for (int k = 0; k < 4; k++)
            write_all(fd, &records[k], sizes[k]);
    }
    if (fd > 1 && close(fd) < 0)
        die("close");
}

int main(int argc, char **argv) {
    _Static_assert(sizeof(Reading) == READING_SIZE, "the header's size");
    if (argc < 3) {
        fprintf(stderr, "usage: peer TRANSPORT-MODE WHERE [N]\n");
        return 2;
    }
    uint32_t n = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 0;
    char transport[16];
    const char *dash = strchr(argv[1], '-');
    if (!dash || (size_t)(dash - argv[1]) >= sizeof transport) {
        fprintf(stderr, "bad mode %s\n", argv[1]);
        return 2;
    }
    memcpy(transport, argv[1], (size_t)(dash - argv[1]));
    transport[dash - argv[1]] = 0;
    const char *mode = dash + 1;
    if (strcmp(transport, "mq") == 0)
        mq(mode, argv[2], n);
    else if (strcmp(transport, "sysv") == 0)
        sysv(mode, argv[2], n);
    else if (strcmp(transport, "fd") == 0)
        stream(mode, open_stream(argv[2], strcmp(mode, "recv") != 0), n);
    else if (strcmp(transport, "unix") == 0 || strcmp(transport, "unixl") == 0)
        stream(mode, open_unix(argv[2], transport[4] == 'l'), n);
    else if (strcmp(transport, "tcp") == 0)
        stream(mode, open_tcp(argv[2]), n);
    else {
        fprintf(stderr, "bad transport %s\n", transport);
        return 2;
    }
    return 0;
}
