/*
 * loadc: a native gRPC load client (C, libnghttp2, one thread, epoll) that cannot be the
 * bottleneck of a Python server.
 *
 * It sends pre-serialized requests read from a request file (written by authz.bench.native
 * from the real protobuf request types), each as one unary gRPC call over HTTP/2 cleartext,
 * and checks every response: HTTP :status 200 and grpc-status 0 in the trailers (or in a
 * trailers-only response). Anything else is counted as an error by its gRPC status name.
 *
 *   closed loop  --connections C --streams S: C connections, S calls in flight on each
 *   open loop    --rate R: calls are due at R per second on a fixed schedule (timerfd);
 *                latency counts from the *intended* send time, so a stalled server shows
 *                in the percentiles (no coordinated omission); at most C x S in flight,
 *                calls due beyond that wait in a backlog (still timed from their due time)
 *
 * Timing: --warmup seconds, then the --duration window; a call counts in the window its
 * response lands in. Latency histogram: the log-linear buckets of authz.bench.histogram
 * (exact below 128 us, ~0.8 % above). CPU over the window: the client's own (getrusage) and,
 * with --server-pid, the server's whole process tree (utime + stime from /proc).
 *
 * Request file (all integers unsigned 32-bit big-endian):
 *   "AZLC1\n"  path_len path  n_headers {name_len name value_len value}*
 *   n_messages {len message}*
 * or, when every message carries headers of its own (e.g. a SigV4 signature over its body):
 *   "AZLC2\n"  path_len path  n_headers {name_len name value_len value}*
 *   n_messages {n_msg_headers {name_len name value_len value}* len message}*
 * Messages are used in order, cycling when the run needs more than the file holds (the
 * report says how many were sent and whether the file wrapped).
 *
 * Output: one JSON object on stdout. Exit 0 when every measured call succeeded, 1 when some
 * failed, 2 on usage or setup errors. Only loopback targets are accepted; every run is bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 1024
#define MAX_STREAMS 1000
#define MAX_HEADERS 32
#define MAX_DURATION_S 600.0
#define GRACE_NS 5000000000LL
#define WINDOW (1 << 30)

/* ---- histogram: the buckets of authz/bench/histogram.py ---------------------------- */
#define SUB_BITS 7
#define SUB (1 << SUB_BITS)
#define HALF (SUB >> 1)
#define MAX_SHIFT 40
#define HSIZE (SUB + MAX_SHIFT * HALF)

typedef struct {
    uint64_t counts[HSIZE];
    uint64_t count, total, min, max;
} hist_t;

static int bit_length(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

static int bucket_of(uint64_t v) {
    if (v < SUB) return (int)v;
    int shift = bit_length(v) - SUB_BITS;
    if (shift > MAX_SHIFT) return HSIZE - 1;
    return SUB + (shift - 1) * HALF + (int)((v >> shift) - HALF);
}

static void bucket_bounds(int i, uint64_t *lo, uint64_t *hi) {
    if (i < SUB) { *lo = (uint64_t)i; *hi = (uint64_t)i + 1; return; }
    int shift = (i - SUB) / HALF + 1, off = (i - SUB) % HALF;
    *lo = (uint64_t)(off + HALF) << shift;
    *hi = *lo + (1ULL << shift);
}

static void hist_record(hist_t *h, uint64_t us) {
    h->counts[bucket_of(us)]++;
    if (h->count == 0 || us < h->min) h->min = us;
    if (us > h->max) h->max = us;
    h->count++;
    h->total += us;
}

static double hist_pct(const hist_t *h, double p) {
    if (!h->count) return 0.0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HSIZE; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            bucket_bounds(i, &lo, &hi);
            double v = (hi - lo == 1) ? (double)lo : (double)(lo + hi) / 2.0;
            if (v < (double)h->min) v = (double)h->min;
            if (v > (double)h->max) v = (double)h->max;
            return v;
        }
    }
    return (double)h->max;
}

/* ---- small helpers -------------------------------------------------------------------- */
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("loadc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (utime + stime) of pid and all its descendants. */
static double tree_cpu_s(int root) {
    if (root <= 0) return 0.0;
    enum { MAXP = 65536 };
    static int pids[MAXP], ppids[MAXP];
    static double cpu[MAXP];
    static char in_tree[MAXP];
    int n = 0;
    long tick = sysconf(_SC_CLK_TCK);
    DIR *d = opendir("/proc");
    if (!d) return 0.0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAXP) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0) continue;
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        if (!p) continue;
        /* fields after ')': state ppid ... utime(14th overall -> index 11 after state) */
        char state;
        int ppid;
        unsigned long long ut = 0, st = 0;
        if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ppid,
                   &ut, &st) != 4)
            continue;
        pids[n] = atoi(e->d_name);
        ppids[n] = ppid;
        cpu[n] = (double)(ut + st) / (double)tick;
        in_tree[n] = pids[n] == root;
        n++;
    }
    closedir(d);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < n; i++) {
            if (in_tree[i]) continue;
            for (int j = 0; j < n; j++)
                if (in_tree[j] && pids[j] == ppids[i]) { in_tree[i] = 1; changed = 1; break; }
        }
    }
    double total = 0.0;
    for (int i = 0; i < n; i++)
        if (in_tree[i]) total += cpu[i];
    return total;
}

static const char *STATUS_NAMES[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"};
enum { N_STATUS = 17, ERR_NO_STATUS = 17, ERR_HTTP = 18, ERR_RESET = 19, N_ERR = 20 };
static const char *ERR_EXTRA[] = {"NO_GRPC_STATUS", "HTTP_STATUS_NOT_200", "STREAM_RESET"};

/* ---- the request file ----------------------------------------------------------------- */
typedef struct {
    char *path;
    int n_headers;
    char *names[MAX_HEADERS], *values[MAX_HEADERS];
    nghttp2_nv *msg_nv;    /* AZLC2: every message's own headers, back to back */
    uint64_t *msg_nv_off;  /* n_messages + 1 (NULL for AZLC1) */
    uint32_t n_messages;
    uint8_t *frames;    /* all gRPC frames back to back: 5-byte prefix + message */
    uint64_t *offsets;  /* n_messages + 1 */
} reqfile_t;

static uint32_t rd32(FILE *f) {
    uint8_t b[4];
    if (fread(b, 1, 4, f) != 4) die("request file truncated");
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static char *rdstr(FILE *f, uint32_t max) {
    uint32_t len = rd32(f);
    if (len > max) die("request file: string of %u bytes", len);
    char *s = malloc(len + 1);
    if (!s || fread(s, 1, len, f) != len) die("request file truncated");
    s[len] = 0;
    return s;
}

static void load_requests(const char *file, reqfile_t *r) {
    FILE *f = fopen(file, "rb");
    if (!f) die("cannot open %s: %s", file, strerror(errno));
    char magic[6];
    if (fread(magic, 1, 6, f) != 6 || (memcmp(magic, "AZLC1\n", 6) && memcmp(magic, "AZLC2\n", 6)))
        die("%s: not a request file", file);
    int per_message = magic[4] == '2';
    r->path = rdstr(f, 4096);
    r->n_headers = (int)rd32(f);
    if (r->n_headers > MAX_HEADERS) die("request file: %d headers", r->n_headers);
    for (int i = 0; i < r->n_headers; i++) {
        r->names[i] = rdstr(f, 1024);
        r->values[i] = rdstr(f, 8192);
    }
    r->n_messages = rd32(f);
    if (r->n_messages == 0 || r->n_messages > 50000000) die("request file: %u messages", r->n_messages);
    long here = ftell(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, here, SEEK_SET);
    uint64_t cap = (uint64_t)(size - here) + 5ULL * r->n_messages;
    r->frames = malloc(cap);
    r->offsets = malloc(sizeof(uint64_t) * (r->n_messages + 1));
    if (!r->frames || !r->offsets) die("out of memory");
    uint64_t nv_cap = 0, nv_n = 0;
    r->msg_nv = NULL;
    r->msg_nv_off = NULL;
    if (per_message) {
        r->msg_nv_off = malloc(sizeof(uint64_t) * (r->n_messages + 1));
        if (!r->msg_nv_off) die("out of memory");
    }
    uint64_t off = 0;
    for (uint32_t i = 0; i < r->n_messages; i++) {
        if (per_message) {
            uint32_t k = rd32(f);
            if ((int)k + r->n_headers > MAX_HEADERS) die("request file: message %u has %u headers", i, k);
            r->msg_nv_off[i] = nv_n;
            if (nv_n + k > nv_cap) {
                nv_cap = (nv_n + k) * 2;
                r->msg_nv = realloc(r->msg_nv, sizeof(nghttp2_nv) * nv_cap);
                if (!r->msg_nv) die("out of memory");
            }
            for (uint32_t j = 0; j < k; j++) {
                char *n = rdstr(f, 1024), *v = rdstr(f, 8192);
                r->msg_nv[nv_n++] = (nghttp2_nv){(uint8_t *)n, (uint8_t *)v, strlen(n), strlen(v),
                    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
            }
        }
        uint32_t len = rd32(f);
        if (off + 5 + len > cap) die("request file: message %u overruns the file", i);
        r->offsets[i] = off;
        uint8_t *p = r->frames + off;
        p[0] = 0;
        p[1] = (uint8_t)(len >> 24); p[2] = (uint8_t)(len >> 16);
        p[3] = (uint8_t)(len >> 8); p[4] = (uint8_t)len;
        if (len && fread(p + 5, 1, len, f) != len) die("request file truncated");
        off += 5 + len;
    }
    r->offsets[r->n_messages] = off;
    if (per_message) r->msg_nv_off[r->n_messages] = nv_n;
    fclose(f);
}

/* ---- connections and streams ---------------------------------------------------------- */
typedef struct conn conn_t;

typedef struct {
    conn_t *conn;
    int32_t stream_id;
    int64_t t_from;       /* intended (open) or actual (closed) send time */
    const uint8_t *body;
    size_t len, sent;
    int http_status;      /* 0 until seen */
    int grpc_status;      /* -1 until seen */
    int in_use;
} call_t;

struct conn {
    int fd;
    nghttp2_session *session;
    int inflight;
    call_t *calls;        /* MAX streams per connection */
    uint8_t *out;         /* pending bytes not yet written */
    size_t out_len, out_cap, out_off;
    int want_write;
};

typedef struct {
    const char *host;
    int port;
    char authority[128];
    reqfile_t req;
    int connections, streams;
    int open_mode;
    double rate, duration, warmup, timeout_s;
    long long max_requests;
    int server_pid;
    /* state */
    conn_t *conns;
    int epfd;
    uint64_t next_msg, sent_total;
    int64_t t_start, t_measure, t_end;
    int measuring_started;
    hist_t hist;
    uint64_t ok, errors[N_ERR], warm, late;
    double cpu_client0, cpu_client1, cpu_server0, cpu_server1;
    int64_t t_cpu0, t_cpu1;
    int stopping;
    uint64_t backlog, backlog_max; /* open loop: due but not yet sent */
    int64_t open_k;                /* open loop: next due index */
    hist_t lag;
    char timeout_hdr[32];
    nghttp2_nv *nva;
    size_t nvlen;
    uint64_t wrapped;
} state_t;

static state_t S;

static void record(call_t *c, int64_t t_done) {
    int err = -1;
    if (c->http_status != 200) err = c->http_status ? ERR_HTTP : (c->grpc_status < 0 ? ERR_RESET : -1);
    if (err < 0) {
        if (c->grpc_status < 0) err = ERR_NO_STATUS;
        else if (c->grpc_status != 0) err = c->grpc_status < N_STATUS ? c->grpc_status : ERR_NO_STATUS;
    }
    if (t_done < S.t_measure) { S.warm++; return; }
    if (t_done >= S.t_end) return;
    int64_t us = (t_done - c->t_from + 500) / 1000;
    hist_record(&S.hist, us < 0 ? 0 : (uint64_t)us);
    if (err < 0) S.ok++;
    else S.errors[err]++;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user) {
    (void)s; (void)id; (void)user;
    call_t *c = src->ptr;
    size_t n = c->len - c->sent;
    if (n > length) n = length;
    memcpy(buf, c->body + c->sent, n);
    c->sent += n;
    if (c->sent == c->len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int submit(conn_t *cn, int64_t t_from) {
    call_t *c = NULL;
    for (int i = 0; i < S.streams; i++)
        if (!cn->calls[i].in_use) { c = &cn->calls[i]; break; }
    if (!c) return -1;
    uint64_t m = S.next_msg++;
    if (m >= S.req.n_messages) { m %= S.req.n_messages; S.wrapped = 1; }
    c->conn = cn;
    c->body = S.req.frames + S.req.offsets[m];
    c->len = S.req.offsets[m + 1] - S.req.offsets[m];
    c->sent = 0;
    c->http_status = 0;
    c->grpc_status = -1;
    c->t_from = t_from;
    nghttp2_data_provider prd = {.source.ptr = c, .read_callback = read_body};
    int32_t id;
    if (S.req.msg_nv_off) { /* the fixed headers, then this message's own (nghttp2 copies the array) */
        nghttp2_nv nva[7 + MAX_HEADERS];
        size_t k = (size_t)(S.req.msg_nv_off[m + 1] - S.req.msg_nv_off[m]);
        memcpy(nva, S.nva, sizeof(nghttp2_nv) * S.nvlen);
        memcpy(nva + S.nvlen, S.req.msg_nv + S.req.msg_nv_off[m], sizeof(nghttp2_nv) * k);
        id = nghttp2_submit_request(cn->session, NULL, nva, S.nvlen + k, &prd, c);
    } else {
        id = nghttp2_submit_request(cn->session, NULL, S.nva, S.nvlen, &prd, c);
    }
    if (id < 0) die("submit_request: %s", nghttp2_strerror(id));
    c->stream_id = id;
    c->in_use = 1;
    cn->inflight++;
    S.sent_total++;
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
    (void)flags; (void)user;
    call_t *c = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!c) return 0;
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        c->http_status = 0;
        for (size_t i = 0; i < valuelen; i++) c->http_status = c->http_status * 10 + (value[i] - '0');
    } else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) {
        int v = 0;
        for (size_t i = 0; i < valuelen && i < 4; i++) v = v * 10 + (value[i] - '0');
        c->grpc_status = v;
    }
    return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user) {
    (void)user;
    call_t *c = nghttp2_session_get_stream_user_data(s, id);
    if (!c) return 0;
    if (error_code != NGHTTP2_NO_ERROR && c->grpc_status < 0) c->http_status = 0;
    record(c, now_ns());
    c->in_use = 0;
    c->conn->inflight--;
    if (!S.open_mode && !S.stopping) submit(c->conn, now_ns());
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *user) {
    (void)s; (void)flags; (void)id; (void)data; (void)len; (void)user;
    return 0;
}

static void flush(conn_t *cn) {
    for (;;) {
        if (cn->out_off < cn->out_len) {
            ssize_t w = write(cn->fd, cn->out + cn->out_off, cn->out_len - cn->out_off);
            if (w < 0) {
                if (errno == EAGAIN) break;
                die("write: %s", strerror(errno));
            }
            cn->out_off += (size_t)w;
            continue;
        }
        cn->out_len = cn->out_off = 0;
        const uint8_t *data;
        ssize_t n;
        /* gather the session's pending frames into one write */
        while ((n = nghttp2_session_mem_send(cn->session, &data)) > 0) {
            if (cn->out_len + (size_t)n > cn->out_cap) {
                cn->out_cap = (cn->out_len + (size_t)n) * 2;
                cn->out = realloc(cn->out, cn->out_cap);
                if (!cn->out) die("out of memory");
            }
            memcpy(cn->out + cn->out_len, data, (size_t)n);
            cn->out_len += (size_t)n;
            if (cn->out_len > 65536) break;
        }
        if (n < 0) die("mem_send: %s", nghttp2_strerror((int)n));
        if (cn->out_len == 0) break;
    }
    int want = cn->out_off < cn->out_len;
    if (want != cn->want_write) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = cn};
        epoll_ctl(S.epfd, EPOLL_CTL_MOD, cn->fd, &ev);
        cn->want_write = want;
    }
}

static void connect_all(void) {
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_peer_max_concurrent_streams(opt, MAX_STREAMS);
    S.conns = calloc((size_t)S.connections, sizeof(conn_t));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    inet_pton(AF_INET, S.host, &addr.sin_addr);
    for (int i = 0; i < S.connections; i++) {
        conn_t *cn = &S.conns[i];
        cn->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (cn->fd < 0 || connect(cn->fd, (struct sockaddr *)&addr, sizeof addr) < 0)
            die("connect %s:%d: %s", S.host, S.port, strerror(errno));
        int one = 1;
        setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(cn->fd, F_SETFL, fcntl(cn->fd, F_GETFL) | O_NONBLOCK);
        cn->calls = calloc((size_t)S.streams, sizeof(call_t));
        nghttp2_session_client_new2(&cn->session, cb, cn, opt);
        nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WINDOW - 1},
        };
        nghttp2_submit_settings(cn->session, NGHTTP2_FLAG_NONE, iv, 2);
        nghttp2_session_set_local_window_size(cn->session, NGHTTP2_FLAG_NONE, 0, WINDOW - 1);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cn};
        epoll_ctl(S.epfd, EPOLL_CTL_ADD, cn->fd, &ev);
        flush(cn);
    }
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
}

static void on_readable(conn_t *cn) {
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(cn->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN) break;
            die("read: %s", strerror(errno));
        }
        if (n == 0) die("server closed a connection");
        ssize_t r = nghttp2_session_mem_recv(cn->session, buf, (size_t)n);
        if (r < 0) die("mem_recv: %s", nghttp2_strerror((int)r));
        if ((size_t)n < sizeof buf) break;
    }
}

/* open loop: send every due call a free slot can take; round-robin over connections */
static int rr;
static void send_due(int64_t now) {
    while (S.backlog > 0) {
        conn_t *cn = NULL;
        for (int k = 0; k < S.connections; k++) {
            conn_t *c = &S.conns[(rr + k) % S.connections];
            if (c->inflight < S.streams) { cn = c; rr = (rr + k + 1) % S.connections; break; }
        }
        if (!cn) break;
        int64_t due = S.t_start + (int64_t)((double)(S.open_k - (int64_t)S.backlog) * 1e9 / S.rate);
        if (now >= S.t_measure) hist_record(&S.lag, (uint64_t)((now - due) / 1000));
        submit(cn, due);
        S.backlog--;
    }
    if (S.backlog > S.backlog_max) S.backlog_max = S.backlog;
}

static void usage(void) {
    fputs("usage: loadc --target 127.0.0.1:PORT --requests FILE [--connections C] [--streams S]\n"
          "             [--rate R (open loop)] [--duration S] [--warmup S] [--server-pid PID]\n"
          "             [--timeout S] [--max-requests N]\n", stderr);
    exit(2);
}

static int total_inflight(void) {
    int n = 0;
    for (int i = 0; i < S.connections; i++) n += S.conns[i].inflight;
    return n;
}

int main(int argc, char **argv) {
    const char *target = NULL, *file = NULL;
    S.connections = 4; S.streams = 4; S.duration = 10; S.warmup = 2; S.timeout_s = 10;
    S.max_requests = 1000000000LL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--target")) target = v;
        else if (!strcmp(a, "--requests")) file = v;
        else if (!strcmp(a, "--connections")) S.connections = atoi(v);
        else if (!strcmp(a, "--streams")) S.streams = atoi(v);
        else if (!strcmp(a, "--rate")) { S.rate = atof(v); S.open_mode = 1; }
        else if (!strcmp(a, "--duration")) S.duration = atof(v);
        else if (!strcmp(a, "--warmup")) S.warmup = atof(v);
        else if (!strcmp(a, "--server-pid")) S.server_pid = atoi(v);
        else if (!strcmp(a, "--timeout")) S.timeout_s = atof(v);
        else if (!strcmp(a, "--max-requests")) S.max_requests = atoll(v);
        else usage();
        i++;
    }
    if (!target || !file) usage();
    if (S.connections < 1 || S.connections > MAX_CONNECTIONS) die("--connections must be 1..%d", MAX_CONNECTIONS);
    if (S.streams < 1 || S.streams > MAX_STREAMS) die("--streams must be 1..%d", MAX_STREAMS);
    if (!(S.duration > 0 && S.duration <= MAX_DURATION_S)) die("--duration must be in (0, 600]");
    if (!(S.warmup >= 0 && S.warmup <= 120)) die("--warmup must be in [0, 120]");
    if (S.open_mode && !(S.rate > 0 && S.rate <= 1e6)) die("--rate must be in (0, 1000000]");
    if (!(S.timeout_s >= 1 && S.timeout_s <= 60)) die("--timeout must be in [1, 60]");
    /* loopback only */
    static char host[64];
    const char *colon = strrchr(target, ':');
    if (!colon || (size_t)(colon - target) >= sizeof host) die("target must be host:port");
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = 0;
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    struct in_addr ia;
    if (inet_pton(AF_INET, host, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127)
        die("refusing target %s: only loopback addresses", target);
    S.host = host;
    S.port = atoi(colon + 1);
    snprintf(S.authority, sizeof S.authority, "%s", target);
    load_requests(file, &S.req);

    snprintf(S.timeout_hdr, sizeof S.timeout_hdr, "%dS", (int)S.timeout_s);
    S.nvlen = 7 + (size_t)S.req.n_headers;
    S.nva = calloc(S.nvlen, sizeof(nghttp2_nv));
    const char *fixed[][2] = {{":method", "POST"}, {":scheme", "http"}, {":path", S.req.path},
                              {":authority", S.authority}, {"content-type", "application/grpc"},
                              {"te", "trailers"}, {"grpc-timeout", S.timeout_hdr}};
    for (size_t i = 0; i < S.nvlen; i++) {
        const char *n = i < 7 ? fixed[i][0] : S.req.names[i - 7];
        const char *v = i < 7 ? fixed[i][1] : S.req.values[i - 7];
        S.nva[i] = (nghttp2_nv){(uint8_t *)n, (uint8_t *)v, strlen(n), strlen(v),
                                NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    }

    S.epfd = epoll_create1(0);
    connect_all();
    int tfd = -1;
    S.t_start = now_ns();
    S.t_measure = S.t_start + (int64_t)(S.warmup * 1e9);
    S.t_end = S.t_measure + (int64_t)(S.duration * 1e9);
    if (S.open_mode) {
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        int64_t iv = (int64_t)(1e9 / S.rate);
        if (iv < 1) iv = 1;
        struct itimerspec its = {.it_interval = {iv / 1000000000LL, iv % 1000000000LL},
                                 .it_value = {0, 1}};
        timerfd_settime(tfd, 0, &its, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(S.epfd, EPOLL_CTL_ADD, tfd, &ev);
    } else {
        for (int i = 0; i < S.connections; i++)
            for (int k = 0; k < S.streams; k++) submit(&S.conns[i], S.t_start);
    }
    for (int i = 0; i < S.connections; i++) flush(&S.conns[i]);

    struct epoll_event evs[256];
    int64_t hard_end = 0;
    for (;;) {
        int64_t now = now_ns();
        if (!S.measuring_started && now >= S.t_measure) {
            S.measuring_started = 1;
            S.cpu_client0 = self_cpu_s();
            S.cpu_server0 = tree_cpu_s(S.server_pid);
            S.t_cpu0 = now_ns();
        }
        if (!S.stopping && (now >= S.t_end || S.sent_total >= (uint64_t)S.max_requests)) {
            S.stopping = 1;
            S.cpu_client1 = self_cpu_s();
            S.cpu_server1 = tree_cpu_s(S.server_pid);
            S.t_cpu1 = now_ns();
            hard_end = now + GRACE_NS;
            if (tfd >= 0) { close(tfd); tfd = -1; }
            S.backlog = 0;
        }
        if (S.stopping && (total_inflight() == 0 || now >= hard_end)) break;
        int64_t wake = S.stopping ? hard_end : (S.measuring_started ? S.t_end : S.t_measure);
        int timeout_ms = (int)((wake - now) / 1000000) + 1;
        if (timeout_ms > 1000) timeout_ms = 1000;
        int n = epoll_wait(S.epfd, evs, 256, timeout_ms);
        if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            conn_t *cn = evs[i].data.ptr;
            if (!cn) { /* timer: calls due */
                uint64_t exp = 0;
                if (tfd >= 0 && read(tfd, &exp, sizeof exp) == sizeof exp) {
                    S.open_k += (int64_t)exp;
                    S.backlog += exp;
                }
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(cn);
        }
        if (S.open_mode && !S.stopping) send_due(now_ns());
        for (int i = 0; i < S.connections; i++) flush(&S.conns[i]);
    }
    int abandoned = total_inflight();

    double window = (double)(S.t_end - S.t_measure) / 1e9;
    double cpu_window = (double)(S.t_cpu1 - S.t_cpu0) / 1e9;
    uint64_t nerr = 0;
    for (int i = 0; i < N_ERR; i++) nerr += S.errors[i];
    uint64_t total = S.ok + nerr;
    printf("{\"client\": \"loadc\", \"nghttp2\": \"%s\", \"mode\": \"%s\", \"path\": \"%s\",\n",
           nghttp2_version(0)->version_str, S.open_mode ? "open" : "closed", S.req.path);
    printf(" \"connections\": %d, \"streams\": %d, \"rate\": %.3f, \"warmup_s\": %.3f, \"duration_s\": %.3f,\n",
           S.connections, S.streams, S.rate, S.warmup, window);
    printf(" \"requests\": %llu, \"successes\": %llu, \"warm\": %llu, \"abandoned\": %d,\n",
           (unsigned long long)total, (unsigned long long)S.ok, (unsigned long long)S.warm, abandoned);
    printf(" \"messages_in_file\": %u, \"messages_sent\": %llu, \"wrapped\": %s,\n", S.req.n_messages,
           (unsigned long long)S.sent_total, S.wrapped ? "true" : "false");
    printf(" \"throughput_rps\": %.3f, \"success_rps\": %.3f,\n", total / window, S.ok / window);
    printf(" \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99.9\": %.1f, \"mean\": %.1f},\n",
           hist_pct(&S.hist, 50), hist_pct(&S.hist, 90), hist_pct(&S.hist, 99),
           hist_pct(&S.hist, 99.9), S.hist.count ? (double)S.hist.total / S.hist.count : 0.0);
    if (S.open_mode) printf(" \"send_lag_p99_us\": %.1f,", hist_pct(&S.lag, 99));
    else printf(" \"send_lag_p99_us\": null,");
    printf(" \"backlog_max\": %llu,\n", (unsigned long long)S.backlog_max);
    printf(" \"cpu_window_s\": %.6f, \"client_cpu_s\": %.6f, \"server_cpu_s\": %.6f,\n", cpu_window,
           S.cpu_client1 - S.cpu_client0, S.cpu_server1 - S.cpu_server0);
    printf(" \"errors\": {");
    int first = 1;
    for (int i = 0; i < N_ERR; i++) {
        if (!S.errors[i]) continue;
        const char *name = i < N_STATUS ? STATUS_NAMES[i] : ERR_EXTRA[i - N_STATUS];
        printf("%s\"%s\": %llu", first ? "" : ", ", name, (unsigned long long)S.errors[i]);
        first = 0;
    }
    printf("},\n \"histogram\": {\"count\": %llu, \"total_us\": %llu, \"min_us\": %llu, \"max_us\": %llu, \"buckets\": {",
           (unsigned long long)S.hist.count, (unsigned long long)S.hist.total,
           (unsigned long long)S.hist.min, (unsigned long long)S.hist.max);
    first = 1;
    for (int i = 0; i < HSIZE; i++) {
        if (!S.hist.counts[i]) continue;
        printf("%s\"%d\": %llu", first ? "" : ", ", i, (unsigned long long)S.hist.counts[i]);
        first = 0;
    }
    printf("}}}\n");
    return nerr || abandoned ? 1 : 0;
}
