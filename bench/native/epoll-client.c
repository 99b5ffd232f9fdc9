// A load client in C for the scale rows of `npm run bench`: it must not be what limits a server
// at 1,000 or 10,000 connections on a 2-core machine (a Node client would take a core itself).
// Every mode reports its own CPU time (getrusage) over the measured phase, so the bench can show
// that the client had room to spare.
//
//   epoll-client timed PORT CONNECTIONS MS SIZE [--proxy-v1]
//       Opens CONNECTIONS connections (each first sending a PROXY v1 header with --proxy-v1),
//       prints {"connected":N} and waits for a line on standard input. Then each connection sends
//       a SIZE-byte line and waits for its echo, again and again, for MS milliseconds; then no
//       new line is sent and every reply still in flight is awaited, so the server has done
//       exactly the round trips counted. Prints {"messages":N,"elapsedMs":T,"cpuMs":C,
//       "mismatches":M,"min":…,"median":…,"evenMin":…,"evenMedian":…,"evenMean":…,"oddMin":…,
//       "oddMedian":…,"oddMean":…} (round trips per connection: all, even-numbered connections,
//       odd-numbered ones) and holds the connections until standard input closes.
//       Even-numbered connections send lines starting with "L", odd ones with "M" (a mixed server
//       routing by first byte splits them in halves the client knows).
//   epoll-client idle PORT CONNECTIONS
//       Waits for a line on standard input, opens CONNECTIONS connections, prints {"open":N} and holds them until standard input
//       closes.
//   epoll-client busy PORT IDLE MESSAGES SIZE
//       IDLE idle connections beside one busy connection doing MESSAGES round trips; prints
//       {"messages":N,"elapsedMs":T,"cpuMs":C,...}; started and held on standard input as timed.
//
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

static int open_conn(int port, int proxy_v1) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) { perror("epoll-client: socket"); exit(1); }
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("epoll-client: connect");
    exit(1);
  }
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
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
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

static void wait_for_line(void) {
  char c;
  while (read(0, &c, 1) > 0 && c != '\n') {}
}

static void hold_until_stdin_closes(void) {
  char c;
  while (read(0, &c, 1) > 0) {}
}

static void send_line(conn_t *c, const char *line, int size) {
  if (write(c->fd, line, size) != size) { perror("epoll-client: write"); exit(1); }
  c->inflight = 1;
}

// Runs `count` connections of which the first `busy` do round trips (all of them when busy < 0).
// With `deadline_ms` > 0 the run stops sending then (instead of after `messages` round trips) and
// awaits the replies in flight. With `gated`, waits for a line on stdin before starting and holds
// the connections after reporting until stdin closes.
static void run(int port, int count, int busy, int messages, int size, double deadline_ms,
                int proxy_v1, int gated) {
  conn_t *conns = calloc(count, sizeof *conns);
  char *lines[2] = { malloc(size), malloc(size) };
  char *buf = malloc(65536);
  for (int h = 0; h < 2; h++) {
    memset(lines[h], 'x', size - 1);
    lines[h][0] = h == 0 ? 'L' : 'M';
    lines[h][size - 1] = '\n';
  }
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    conns[i].fd = open_conn(port, proxy_v1);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  // Let the server accept the last connections of the backlog before the clock starts (30 µs a
  // connection, at most 300 ms).
  usleep(count >= 10000 ? 300000 : count * 30);
  if (gated) {
    printf("{\"connected\":%d}\n", count);
    fflush(stdout);
    wait_for_line();
  }
  int active = busy < 0 ? count : busy;
  double start = now_ms();
  double cpu_start = cpu_ms();
  for (int i = 0; i < active; i++) send_line(&conns[i], lines[i % 2], size);
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
    int n = epoll_wait(ep, events, 1024, 100);
    for (int e = 0; e < n; e++) {
      int index = events[e].data.u32;
      conn_t *c = &conns[index];
      const char *line = lines[index % 2];
      for (;;) {
        ssize_t r = read(c->fd, buf, 65536);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0) { fprintf(stderr, "epoll-client: connection closed by the server\n"); exit(1); }
        last_reply = now_ms();
        for (ssize_t k = 0; k < r; k++) {
          if (buf[k] != line[(c->received + k) % size]) c->mismatches++;
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
  int *all = malloc(sizeof(int) * (active > 0 ? active : 1));
  int *even = malloc(sizeof(int) * (active > 0 ? active : 1));
  int *odd = malloc(sizeof(int) * (active > 0 ? active : 1));
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
  printf("{\"messages\":%ld,\"elapsedMs\":%.1f,\"cpuMs\":%.1f,\"mismatches\":%ld,\"min\":%d,"
         "\"median\":%d,\"evenMin\":%d,\"evenMedian\":%d,\"evenMean\":%.2f,\"oddMin\":%d,"
         "\"oddMedian\":%d,\"oddMean\":%.2f}\n",
         total, elapsed, cpu, mismatches, min, median, emin, emedian, emean, omin, omedian,
         omean);
  fflush(stdout);
  if (gated) hold_until_stdin_closes();
  for (int i = 0; i < count; i++) close(conns[i].fd);
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
  if (strcmp(argv[1], "timed") == 0 && argc >= 6) {
    int count = atoi(argv[3]);
    raise_fd_limit(count + 64);
    run(port, count, -1, 0, atoi(argv[5]), atof(argv[4]), flag(argc, argv, 6, "--proxy-v1"), 1);
  } else if (strcmp(argv[1], "busy") == 0 && argc == 6) {
    int count = atoi(argv[3]) + 1;
    raise_fd_limit(count + 64);
    run(port, count, 1, atoi(argv[4]), atoi(argv[5]), 0, 0, 1);
  } else if (strcmp(argv[1], "idle") == 0 && argc == 4) {
    int count = atoi(argv[3]);
    raise_fd_limit(count + 64);
    int *fds = malloc(sizeof(int) * count);
    wait_for_line();
    for (int i = 0; i < count; i++) fds[i] = open_conn(port, 0);
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
