// kvhttpd: a small HTTP/1.1 key-value server for the tandem guest. It gives
// replication and fault-tolerance tests a service whose answers depend on
// state the guest holds in memory (RFC 9110/9112 subset).
//
//   kvhttpd [-p PORT] [-t THREADS]   (default port 80, 1 thread)
//
//   GET    /         200 "tandem guest ok\n"
//   GET    /stats    200 "requests=N connections=N keys=N bytes=N\n"
//   GET    /kv/KEY   200 value, or 404
//   PUT    /kv/KEY   204 (body = value; Content-Length required)
//   DELETE /kv/KEY   204, or 404
//   HEAD   as GET without the body
//
// Keep-alive (HTTP/1.1 default, "Connection: close" honoured), pipelined
// requests, "Expect: 100-continue". Each thread runs one poll() loop over
// connections of its own; thread 0 also accepts, keeping a new connection
// or handing it (through a pipe) to the thread that has the fewest, so an
// SMP guest serves on every CPU. A connection stays with one thread for
// its life; the table and the counters are shared, under one lock.
// guest-cflags: -pthread
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
  kMaxConns = 256,                 // per thread
  kMaxThreads = 64,
  kMaxHeader = 16 * 1024,          // request line + headers
  kMaxBody = 16 * 1024 * 1024,     // largest value
  kMaxKey = 1024,
  kBuckets = 4096,
};

// ---- key-value store: chained hash table --------------------------------

struct kv_entry {
  struct kv_entry *next;
  char *key;
  size_t key_len;
  char *value;
  size_t value_len;
};

// g_lock guards the table and the four counters: a thread holds it while
// it serves one request (serve_locked) or counts a connection.
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kv_entry *g_buckets[kBuckets];
static uint64_t g_keys, g_value_bytes, g_requests, g_connections;

static uint64_t hash_key(const char *key, size_t len) {
  uint64_t h = 0xcbf29ce484222325u;  // FNV-1a
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)key[i]) * 0x100000001b3u;
  return h;
}

static struct kv_entry **kv_find(const char *key, size_t len) {
  struct kv_entry **link = &g_buckets[hash_key(key, len) % kBuckets];
  while (*link && !((*link)->key_len == len && memcmp((*link)->key, key, len) == 0)) link = &(*link)->next;
  return link;
}

// Takes ownership of value on success.
static int kv_put(const char *key, size_t key_len, char *value, size_t value_len) {
  struct kv_entry **link = kv_find(key, key_len);
  if (*link) {
    g_value_bytes -= (*link)->value_len;
    free((*link)->value);
  } else {
    struct kv_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(key_len))) {
      free(e);
      return -1;
    }
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    *link = e;
    g_keys++;
  }
  (*link)->value = value;
  (*link)->value_len = value_len;
  g_value_bytes += value_len;
  return 0;
}

static int kv_delete(const char *key, size_t key_len) {
  struct kv_entry **link = kv_find(key, key_len);
  struct kv_entry *e = *link;
  if (!e) return -1;
  *link = e->next;
  g_keys--;
  g_value_bytes -= e->value_len;
  free(e->key);
  free(e->value);
  free(e);
  return 0;
}

// ---- connections ----------------------------------------------------------

struct buffer {
  char *data;
  size_t len, cap, off;  // off: bytes already consumed (in) or sent (out)
};

struct conn {
  int fd;
  struct buffer in, out;
  int close_after_write;  // close once out is drained
  int sent_continue;      // "100 Continue" sent for the pending request
};

// One per thread. fds[0] is where its new connections come from: the
// listening socket for thread 0, its handoff pipe for the others.
struct worker {
  struct conn conns[kMaxConns];
  size_t nconns;
  // Connections thread 0 gave it that it has not closed yet (those still
  // in the pipe too): what thread 0 balances on. Only thread 0 adds.
  atomic_size_t load;
  int handoff[2];  // pipe of accepted fds (int), thread 0 -> this thread
  struct pollfd fds[kMaxConns + 1];
};

static struct worker *g_workers;
static size_t g_nworkers;
static int g_listen_fd;

static int buf_reserve(struct buffer *b, size_t extra) {
  if (b->len + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

static int buf_append(struct buffer *b, const void *data, size_t len) {
  if (buf_reserve(b, len) != 0) return -1;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

static int buf_printf(struct buffer *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[512];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) return -1;
  return buf_append(b, tmp, (size_t)n);
}

// Drop consumed bytes from the front.
static void buf_compact(struct buffer *b) {
  if (b->off == 0) return;
  memmove(b->data, b->data + b->off, b->len - b->off);
  b->len -= b->off;
  b->off = 0;
}

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

static void respond(struct conn *c, int status, const char *body, size_t body_len, int head_only,
                    int keep_alive, int http10) {
  struct buffer *o = &c->out;
  int ok = buf_printf(o, "HTTP/1.1 %d %s\r\n", status, reason(status)) == 0;
  // RFC 9110 8.6: no Content-Length (and no body) with 204.
  if (status != 204) {
    ok = ok && buf_printf(o, "Content-Type: text/plain\r\nContent-Length: %zu\r\n", body_len) == 0;
  }
  if (!keep_alive) {
    ok = ok && buf_printf(o, "Connection: close\r\n") == 0;
  } else if (http10) {
    ok = ok && buf_printf(o, "Connection: keep-alive\r\n") == 0;
  }
  ok = ok && buf_append(o, "\r\n", 2) == 0;
  if (status != 204 && !head_only) ok = ok && buf_append(o, body, body_len) == 0;
  if (!ok) {  // out of memory: give up on this connection
    o->len = o->off = 0;
    c->close_after_write = 1;
    return;
  }
  if (!keep_alive) c->close_after_write = 1;
}

static void respond_text(struct conn *c, int status, const char *text, int head_only, int keep_alive,
                         int http10) {
  respond(c, status, text, strlen(text), head_only, keep_alive, http10);
}

// Case-insensitive search for a header; returns its trimmed value.
static int find_header(const char *headers, const char *end, const char *name, const char **value,
                       size_t *value_len) {
  size_t name_len = strlen(name);
  for (const char *line = headers; line < end;) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) eol = end;
    if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
      const char *v = line + name_len + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      *value = v;
      *value_len = (size_t)(ve - v);
      return 1;
    }
    line = eol + 1;
  }
  return 0;
}

static int value_has_token(const char *v, size_t len, const char *token) {
  size_t tl = strlen(token);
  for (size_t i = 0; i + tl <= len; i++) {
    if (strncasecmp(v + i, token, tl) == 0 && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
        (i + tl == len || v[i + tl] == ',' || v[i + tl] == ' '))
      return 1;
  }
  return 0;
}

// Answers one parsed request; the caller holds g_lock.
static void serve_locked(struct conn *c, const char *method, char *target, const char *body, uint64_t body_len,
                         int keep_alive, int http10) {
  g_requests++;
  int head_only = strcmp(method, "HEAD") == 0;
  int is_get = head_only || strcmp(method, "GET") == 0;
  char *path = target;
  char *query = strchr(path, '?');
  if (query) *query = '\0';

  if (strcmp(path, "/") == 0) {
    if (!is_get) {
      respond_text(c, 405, "GET only\n", 0, keep_alive, http10);
      return;
    }
    respond_text(c, 200, "tandem guest ok\n", head_only, keep_alive, http10);
  } else if (strcmp(path, "/stats") == 0) {
    if (!is_get) {
      respond_text(c, 405, "GET only\n", 0, keep_alive, http10);
      return;
    }
    char text[160];
    snprintf(text, sizeof text, "requests=%" PRIu64 " connections=%" PRIu64 " keys=%" PRIu64 " bytes=%" PRIu64 "\n",
             g_requests, g_connections, g_keys, g_value_bytes);
    respond_text(c, 200, text, head_only, keep_alive, http10);
  } else if (strncmp(path, "/kv/", 4) == 0 && path[4] != '\0') {
    const char *key = path + 4;
    size_t key_len = strlen(key);
    if (is_get) {
      struct kv_entry *e = *kv_find(key, key_len);
      if (e) {
        respond(c, 200, e->value, e->value_len, head_only, keep_alive, http10);
      } else {
        respond_text(c, 404, "not found\n", head_only, keep_alive, http10);
      }
    } else if (strcmp(method, "PUT") == 0) {
      char *value = malloc(body_len ? body_len : 1);
      if (!value) {
        respond_text(c, 500, "out of memory\n", 0, 0, http10);
        return;
      }
      memcpy(value, body, body_len);
      if (kv_put(key, key_len, value, body_len) != 0) {
        free(value);
        respond_text(c, 500, "out of memory\n", 0, 0, http10);
        return;
      }
      respond(c, 204, NULL, 0, 0, keep_alive, http10);
    } else if (strcmp(method, "DELETE") == 0) {
      if (kv_delete(key, key_len) == 0) {
        respond(c, 204, NULL, 0, 0, keep_alive, http10);
      } else {
        respond_text(c, 404, "not found\n", 0, keep_alive, http10);
      }
    } else {
      respond_text(c, 405, "GET, HEAD, PUT or DELETE\n", 0, keep_alive, http10);
    }
  } else {
    respond_text(c, 404, "not found\n", head_only, keep_alive, http10);
  }
}

// Handles at most one complete request from c->in. Returns 1 if one was
// handled, 0 if more input is needed, -1 if the connection must close now.
static int handle_one(struct conn *c) {
  char *start = c->in.data + c->in.off;
  size_t avail = c->in.len - c->in.off;
  // Tolerate empty lines before a request (RFC 9112 2.2).
  while (avail > 0 && (*start == '\r' || *start == '\n')) {
    start++;
    avail--;
    c->in.off++;
  }
  char *hdr_end = memmem(start, avail, "\r\n\r\n", 4);
  size_t hdr_len;
  if (hdr_end) {
    hdr_len = (size_t)(hdr_end - start) + 4;
  } else if ((hdr_end = memmem(start, avail, "\n\n", 2)) != NULL) {
    hdr_len = (size_t)(hdr_end - start) + 2;
  } else {
    if (avail > kMaxHeader) {
      respond_text(c, 431, "request header too large\n", 0, 0, 0);
      return -1;
    }
    return 0;
  }

  // Request line: METHOD SP TARGET SP HTTP/1.x
  char *line_end = memchr(start, '\n', hdr_len);
  char method[16], target[kMaxKey + 16], version[16];
  int http10 = 0;
  {
    size_t ll = (size_t)(line_end - start);
    char line[sizeof method + sizeof target + sizeof version + 4];
    if (ll >= sizeof line) {
      respond_text(c, 400, "request line too long\n", 0, 0, 0);
      return -1;
    }
    memcpy(line, start, ll);
    line[ll] = '\0';
    if (ll > 0 && line[ll - 1] == '\r') line[ll - 1] = '\0';
    if (sscanf(line, "%15s %1039s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
      respond_text(c, 400, "bad request line\n", 0, 0, 0);
      return -1;
    }
    if (strcmp(version, "HTTP/1.0") == 0) {
      http10 = 1;
    } else if (strcmp(version, "HTTP/1.1") != 0) {
      respond_text(c, 505, "HTTP/1.0 or HTTP/1.1 only\n", 0, 0, 0);
      return -1;
    }
  }
  const char *headers = line_end + 1, *headers_end = start + hdr_len;

  const char *v;
  size_t vl;
  int keep_alive = !http10;
  if (find_header(headers, headers_end, "Connection", &v, &vl)) {
    if (value_has_token(v, vl, "close")) keep_alive = 0;
    if (value_has_token(v, vl, "keep-alive")) keep_alive = 1;
  }
  if (find_header(headers, headers_end, "Transfer-Encoding", &v, &vl)) {
    respond_text(c, 501, "chunked bodies are not supported; send Content-Length\n", 0, 0, http10);
    return -1;
  }
  uint64_t body_len = 0;
  if (find_header(headers, headers_end, "Content-Length", &v, &vl)) {
    char num[24];
    char *end;
    if (vl == 0 || vl >= sizeof num || !isdigit((unsigned char)v[0])) {
      respond_text(c, 400, "bad Content-Length\n", 0, 0, http10);
      return -1;
    }
    memcpy(num, v, vl);
    num[vl] = '\0';
    body_len = strtoull(num, &end, 10);
    if (*end != '\0') {
      respond_text(c, 400, "bad Content-Length\n", 0, 0, http10);
      return -1;
    }
    if (body_len > kMaxBody) {
      respond_text(c, 413, "value too large\n", 0, 0, http10);
      return -1;
    }
  }
  if (avail < hdr_len + body_len) {
    if (!c->sent_continue && find_header(headers, headers_end, "Expect", &v, &vl) &&
        value_has_token(v, vl, "100-continue")) {
      buf_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
      c->sent_continue = 1;
    }
    return 0;
  }
  c->sent_continue = 0;
  const char *body = start + hdr_len;
  c->in.off += hdr_len + body_len;
  pthread_mutex_lock(&g_lock);
  serve_locked(c, method, target, body, body_len, keep_alive, http10);
  pthread_mutex_unlock(&g_lock);
  return 1;
}

static void conn_close(struct worker *w, size_t i) {
  struct conn *c = &w->conns[i];
  close(c->fd);
  free(c->in.data);
  free(c->out.data);
  w->conns[i] = w->conns[--w->nconns];
  atomic_fetch_sub(&w->load, 1);
}

// Sends what it can. Returns -1 on a dead connection.
static int conn_flush(struct conn *c) {
  while (c->out.off < c->out.len) {
    ssize_t n = send(c->fd, c->out.data + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    c->out.off += (size_t)n;
  }
  c->out.len = c->out.off = 0;
  return 0;
}

// Reads and serves. Returns -1 if the connection should be closed.
static int conn_read(struct conn *c) {
  for (;;) {
    if (buf_reserve(&c->in, 64 * 1024) != 0) return -1;
    ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    if (n == 0) return -1;  // peer closed; nothing half-served to finish
    c->in.len += (size_t)n;
    if ((size_t)n < 64 * 1024) break;
  }
  int r = 0;
  while (!c->close_after_write && (r = handle_one(c)) == 1) {
  }
  if (!c->close_after_write && r < 0) c->close_after_write = 1;
  buf_compact(&c->in);
  return 0;
}

// The thread with the fewest connections (the lowest index among equals),
// or NULL when every one is full.
static struct worker *least_loaded(void) {
  struct worker *best = NULL;
  size_t best_load = kMaxConns;
  for (size_t i = 0; i < g_nworkers; i++) {
    size_t load = atomic_load(&g_workers[i].load);
    if (load < best_load) best = &g_workers[i], best_load = load;
  }
  return best;
}

// Thread 0: accepts what is pending and gives each connection to the
// least loaded thread, itself included.
static void accept_all(struct worker *self) {
  struct worker *to;
  while ((to = least_loaded()) != NULL) {
    int fd = accept4(g_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        perror("kvhttpd: accept");
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&g_lock);
    g_connections++;
    pthread_mutex_unlock(&g_lock);
    atomic_fetch_add(&to->load, 1);
    if (to == self) {
      self->conns[self->nconns++] = (struct conn){.fd = fd};
    } else if (write(to->handoff[1], &fd, sizeof fd) != (ssize_t)sizeof fd) {
      // Cannot happen while load <= kMaxConns keeps the pipe far from full.
      perror("kvhttpd: handoff");
      close(fd);
      atomic_fetch_sub(&to->load, 1);
    }
  }
}

// Threads 1..N-1: takes the connections thread 0 handed over. They fit:
// load, which counts them, stays at most kMaxConns.
static void adopt_all(struct worker *w) {
  int fd;
  ssize_t n;
  // Writes of one int to a pipe are atomic, so reads come in whole ints.
  while ((n = read(w->handoff[0], &fd, sizeof fd)) == (ssize_t)sizeof fd) {
    w->conns[w->nconns++] = (struct conn){.fd = fd};
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) perror("kvhttpd: handoff");
}

static void *serve_forever(void *arg) {
  struct worker *w = arg;
  int acceptor = w == &g_workers[0];
  for (;;) {
    size_t n = 0;
    int timeout = -1;
    if (acceptor) {
      // Stop accepting while every thread is full; the kernel's backlog
      // holds newcomers. Another thread's close does not wake this one,
      // so look again every 100 ms.
      int room = least_loaded() != NULL;
      if (!room && g_nworkers > 1) timeout = 100;
      w->fds[n++] = (struct pollfd){.fd = room ? g_listen_fd : -1, .events = POLLIN};
    } else {
      w->fds[n++] = (struct pollfd){.fd = w->handoff[0], .events = POLLIN};
    }
    for (size_t i = 0; i < w->nconns; i++) {
      // Backpressure: read a connection only when its replies are sent.
      short ev = w->conns[i].out.len > w->conns[i].out.off ? POLLOUT : POLLIN;
      w->fds[n++] = (struct pollfd){.fd = w->conns[i].fd, .events = ev};
    }
    if (poll(w->fds, n, timeout) < 0) {
      if (errno == EINTR) continue;
      perror("kvhttpd: poll");
      exit(1);
    }
    // Walk backwards: conn_close moves the last connection into the hole.
    size_t count = w->nconns;
    for (size_t k = count; k-- > 0;) {
      struct conn *c = &w->conns[k];
      short re = w->fds[k + 1].revents;
      if (re == 0) continue;
      int dead = 0;
      if (re & (POLLIN | POLLHUP | POLLERR)) dead = conn_read(c) != 0;
      if (!dead) dead = conn_flush(c) != 0;
      if (!dead && c->close_after_write && c->out.len == 0) dead = 1;
      if (dead) conn_close(w, k);
    }
    if (w->fds[0].revents & POLLIN) {
      if (acceptor) {
        accept_all(w);
      } else {
        adopt_all(w);
      }
    }
  }
}

static int parse_int(const char *text, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  long port = 80, threads = 1;
  int opt;
  while ((opt = getopt(argc, argv, "p:t:h")) != -1) {
    if (opt == 'p') {
      if (parse_int(optarg, 1, 65535, &port) != 0) {
        fprintf(stderr, "kvhttpd: bad port '%s'\n", optarg);
        return 2;
      }
    } else if (opt == 't') {
      if (parse_int(optarg, 1, kMaxThreads, &threads) != 0) {
        fprintf(stderr, "kvhttpd: bad thread count '%s' (1 to %d)\n", optarg, kMaxThreads);
        return 2;
      }
    } else {
      fprintf(opt == 'h' ? stdout : stderr, "usage: kvhttpd [-p PORT] [-t THREADS]\n");
      return opt == 'h' ? 0 : 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) {
    perror("kvhttpd: socket");
    return 1;
  }
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 128) != 0) {
    fprintf(stderr, "kvhttpd: port %ld: %s\n", port, strerror(errno));
    return 1;
  }
  g_listen_fd = lfd;
  g_nworkers = (size_t)threads;
  g_workers = calloc(g_nworkers, sizeof *g_workers);
  if (!g_workers) {
    perror("kvhttpd: workers");
    return 1;
  }
  for (size_t i = 1; i < g_nworkers; i++) {
    pthread_t thread;
    int err;
    if (pipe2(g_workers[i].handoff, O_NONBLOCK | O_CLOEXEC) != 0) {
      perror("kvhttpd: pipe");
      return 1;
    }
    if ((err = pthread_create(&thread, NULL, serve_forever, &g_workers[i])) != 0) {
      fprintf(stderr, "kvhttpd: thread %zu: %s\n", i, strerror(err));
      return 1;
    }
  }
  if (threads == 1) {
    printf("kvhttpd: listening on port %ld\n", port);
  } else {
    printf("kvhttpd: listening on port %ld, %ld threads\n", port, threads);
  }
  fflush(stdout);
  serve_forever(&g_workers[0]);
}
