// A load client in C for the scale rows of `npm run bench`: it must not be what limits a server
// at 1,000 or 10,000 connections on a 2-core machine (a Node client would take a core itself).
// Every mode reports its own CPU time (getrusage) over the measured phase, so the bench can show
// that the client had room to spare.
//
//   epoll-client timed PORT CONNECTIONS MS SIZE [--proxy-v1]
//       Opens CONNECTIONS connections (at most 256 connecting at once; each first sends a PROXY
//       v1 header with --proxy-v1) and prints {"connected":N}. Then, for each line read on
//       standard input, runs one segment: each connection sends a SIZE-byte line and waits for
//       its echo, again and again, for MS milliseconds; then no new line is sent and every reply
//       in flight is awaited, so the server has done exactly the round trips counted. Prints
//       {"messages":N,"elapsedMs":T,"cpuMs":C,"mismatches":M,"min":…,"median":…,"evenMin":…,
//       "evenMedian":…,"evenMean":…,"oddMin":…,"oddMedian":…,"oddMean":…} (round trips per
//       connection: all, even-numbered connections, odd-numbered ones). Closes everything at
//       end-of-input. Even-numbered connections send lines starting with "L", odd ones with "M"
//       (a mixed server routing by first byte splits them in halves the client knows).
//   epoll-client busy PORT IDLE MESSAGES SIZE
//       IDLE idle connections beside one busy connection: prints {"connected":N}, and after a
//       line on standard input the busy one does MESSAGES round trips; prints the report as
//       timed does and holds the connections until standard input closes.
//   epoll-client idle PORT CONNECTIONS
//       After a line on standard input, opens CONNECTIONS connections, prints {"open":N} and
//       holds them until standard input closes.
//
// Connections are opened once per server and run every segment of it; they close gracefully (a
// reset would be a different path in the servers).
// It raises its own open-file limit to what it needs (within the hard limit). Loopback only
// (127.0.0.1); bounded in count and time (no reply for 10 s ends it); exits by itself.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int done;       // round trips completed
  int received;   // bytes of the current reply
  int inflight;   // a line was sent and its echo is not complete
  int mismatches;
} conn_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void raise_fd_limit(int needed) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur >= (rlim_t)needed) return;
  if (rl.rlim_max < (rlim_t)needed) {
    fprintf(stderr,
            "epoll-client: %d connections need %d open files, but the hard limit is %lu "
            "(raise it: ulimit -Hn, or /etc/security/limits.conf)\n",
            needed - 64, needed, (unsigned long)rl.rlim_max);
    exit(3);
  }
  rl.rlim_cur = needed;
  setrlimit(RLIMIT_NOFILE, &rl);
}

static void after_connect(int fd, int port, int proxy_v1) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (proxy_v1) {
    struct sockaddr_in local;
    socklen_t length = sizeof local;
    getsockname(fd, (struct sockaddr *)&local, &length);
    char header[108];
    int n = snprintf(header, sizeof header, "PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n",
                     ntohs(local.sin_port), port);
    if (write(fd, header, n) != n) { perror("epoll-client: write"); exit(1); }
  }
}

// Opens `count` non-blocking connections to 127.0.0.1:port into fds[], at most 256 connecting at
// once (within the server's accept backlog); exits if one fails or none completes for 10 s.
static void open_all(int *fds, int count, int port, int proxy_v1) {
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int cep = epoll_create1(0);
  int next = 0, connecting = 0, done = 0;
  struct epoll_event events[256];
  while (done < count) {
    while (next < count && connecting < 256) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (fd < 0) { perror("epoll-client: socket"); exit(1); }
      if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        perror("epoll-client: connect");
        exit(1);
      }
      fds[next] = fd;
      struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = next };
      epoll_ctl(cep, EPOLL_CTL_ADD, fd, &ev);
      next++;
      connecting++;
    }
    int n = epoll_wait(cep, events, 256, 10000);
    if (n <= 0) { fprintf(stderr, "epoll-client: no connection completed for 10 s\n"); exit(1); }
    for (int e = 0; e < n; e++) {
      int fd = fds[events[e].data.u32];
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        fprintf(stderr, "epoll-client: connect: %s\n", strerror(error));
        exit(1);
      }
      epoll_ctl(cep, EPOLL_CTL_DEL, fd, NULL);
      after_connect(fd, port, proxy_v1);
      connecting--;
      done++;
    }
  }
  close(cep);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

// min, median and mean of `count` ints (sorted in place).
static void figures(int *values, int count, int *min, int *median, double *mean) {
  if (count == 0) { *min = 0; *median = 0; *mean = 0; return; }
  qsort(values, count, sizeof(int), cmp_int);
  long total = 0;
  for (int i = 0; i < count; i++) total += values[i];
  *min = values[0];
  *median = values[count / 2];
  *mean = (double)total / count;
}

// Reads up to a newline on standard input: 1 for a line, 0 at end-of-input.
static int wait_for_line(void) {
  char c;
  ssize_t r;
  while ((r = read(0, &c, 1)) > 0 && c != '\n') {}
  return r > 0;
}

static void hold_until_stdin_closes(void) {
  char c;
  while (read(0, &c, 1) > 0) {}
}

static void send_line(conn_t *c, const char *line, int size) {
  if (write(c->fd, line, size) != size) { perror("epoll-client: write"); exit(1); }
  c->inflight = 1;
}

typedef struct {
  conn_t *conns;
  int count;
  int size;
  char *lines[2];
  char *buf;
  int ep;
} pool_t;

// Opens the pool's connections (a PROXY v1 header first with proxy_v1), then lets the server
// accept the last ones of its backlog (30 µs a connection, at most 300 ms).
static void open_pool(pool_t *pool, int port, int count, int size, int proxy_v1) {
  pool->count = count;
  pool->size = size;
  pool->conns = calloc(count, sizeof *pool->conns);
  pool->buf = malloc(65536);
  for (int h = 0; h < 2; h++) {
    pool->lines[h] = malloc(size);
    memset(pool->lines[h], 'x', size - 1);
    pool->lines[h][0] = h == 0 ? 'L' : 'M';
    pool->lines[h][size - 1] = '\n';
  }
  pool->ep = epoll_create1(0);
  int *fds = malloc(sizeof(int) * count);
  open_all(fds, count, port, proxy_v1);
  for (int i = 0; i < count; i++) {
    pool->conns[i].fd = fds[i];
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
    epoll_ctl(pool->ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  free(fds);
  usleep(count >= 10000 ? 300000 : count * 30);
}

// One measured run over the first `active` connections of the pool: each sends a line and waits
// for its echo, `messages` times (0: until `deadline_ms`, then the replies in flight are
// awaited, so the server has done exactly the round trips counted). Prints the report line.
static void segment(pool_t *pool, int active, int messages, double deadline_ms) {
  int size = pool->size;
  conn_t *conns = pool->conns;
  for (int i = 0; i < active; i++) {
    conns[i].done = conns[i].received = conns[i].mismatches = 0;
  }
  double start = now_ms();
  double cpu_start = cpu_ms();
  for (int i = 0; i < active; i++) send_line(&conns[i], pool->lines[i % 2], size);
  int finished = 0, stopping = 0, inflight = active;
  double last_reply = start;
  struct epoll_event events[1024];
  while (stopping ? inflight > 0 : finished < active) {
    double now = now_ms();
    if (!stopping && deadline_ms > 0 && now - start >= deadline_ms) stopping = 1;
    if (now - last_reply > 10000) {
      fprintf(stderr, "epoll-client: no reply for 10 s\n");
      exit(1);
    }
    int n = epoll_wait(pool->ep, events, 1024, 100);
    for (int e = 0; e < n; e++) {
      int index = events[e].data.u32;
      conn_t *c = &conns[index];
      const char *line = pool->lines[index % 2];
      for (;;) {
        ssize_t r = read(c->fd, pool->buf, 65536);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0) { fprintf(stderr, "epoll-client: connection closed by the server\n"); exit(1); }
        last_reply = now_ms();
        for (ssize_t k = 0; k < r; k++) {
          if (pool->buf[k] != line[(c->received + k) % size]) c->mismatches++;
        }
        c->received += r;
        while (c->received >= size) {
          c->received -= size;
          c->done++;
          c->inflight = 0;
          inflight--;
          if (messages > 0 && c->done == messages) finished++;
          else if (!stopping) { send_line(c, line, size); inflight++; }
        }
      }
    }
  }
  double elapsed = now_ms() - start;
  double cpu = cpu_ms() - cpu_start;
  long total = 0, mismatches = 0;
  int *all = malloc(sizeof(int) * active);
  int *even = malloc(sizeof(int) * active);
  int *odd = malloc(sizeof(int) * active);
  int evens = 0, odds = 0;
  for (int i = 0; i < active; i++) {
    total += conns[i].done;
    mismatches += conns[i].mismatches;
    all[i] = conns[i].done;
    if (i % 2 == 0) even[evens++] = conns[i].done;
    else odd[odds++] = conns[i].done;
  }
  int min, median, emin, emedian, omin, omedian;
  double mean, emean, omean;
  figures(all, active, &min, &median, &mean);
  figures(even, evens, &emin, &emedian, &emean);
  figures(odd, odds, &omin, &omedian, &omean);
  free(all);
  free(even);
  free(odd);
  printf("{\"messages\":%ld,\"elapsedMs\":%.1f,\"cpuMs\":%.1f,\"mismatches\":%ld,\"min\":%d,"
         "\"median\":%d,\"evenMin\":%d,\"evenMedian\":%d,\"evenMean\":%.2f,\"oddMin\":%d,"
         "\"oddMedian\":%d,\"oddMean\":%.2f}\n",
         total, elapsed, cpu, mismatches, min, median, emin, emedian, emean, omin, omedian,
         omean);
  fflush(stdout);
}

static void close_pool(pool_t *pool) {
  for (int i = 0; i < pool->count; i++) close(pool->conns[i].fd);
}

static int flag(int argc, char **argv, int from, const char *name) {
  for (int i = from; i < argc; i++) {
    if (strcmp(argv[i], name) == 0) return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: see the comment at the top of epoll-client.c\n"); return 2; }
  int port = atoi(argv[2]);
  pool_t pool;
  if (strcmp(argv[1], "timed") == 0 && argc >= 6) {
    int count = atoi(argv[3]);
    raise_fd_limit(count + 64);
    open_pool(&pool, port, count, atoi(argv[5]), flag(argc, argv, 6, "--proxy-v1"));
    printf("{\"connected\":%d}\n", count);
    fflush(stdout);
    while (wait_for_line()) segment(&pool, count, 0, atof(argv[4]));
    close_pool(&pool);
  } else if (strcmp(argv[1], "busy") == 0 && argc == 6) {
    int count = atoi(argv[3]) + 1;
    raise_fd_limit(count + 64);
    open_pool(&pool, port, count, atoi(argv[5]), 0);
    printf("{\"connected\":%d}\n", count);
    fflush(stdout);
    if (wait_for_line()) segment(&pool, 1, atoi(argv[4]), 0);
    hold_until_stdin_closes();
    close_pool(&pool);
  } else if (strcmp(argv[1], "idle") == 0 && argc == 4) {
    int count = atoi(argv[3]);
    raise_fd_limit(count + 64);
    int *fds = malloc(sizeof(int) * count);
    wait_for_line();
    open_all(fds, count, port, 0);
    printf("{\"open\":%d}\n", count);
    fflush(stdout);
    hold_until_stdin_closes();
    for (int i = 0; i < count; i++) close(fds[i]);
  } else {
    fprintf(stderr, "usage: see the comment at the top of epoll-client.c\n");
    return 2;
  }
  return 0;
}
