// A load client in C for the scale rows of `npm run bench`: it must not be what limits a server
// at 1,000 or 10,000 connections on a 2-core machine (a Node client would take a core itself).
//
//   epoll-client ping-pong PORT CONNECTIONS MESSAGES SIZE   each connection sends a SIZE-byte
//       line and waits for its echo, MESSAGES times; prints {"messages":N,"elapsedMs":T,
//       "mismatches":M}
//   epoll-client timed PORT CONNECTIONS MS SIZE              the same for MS milliseconds (no
//       bound on messages); adds "min" and "median": round trips per connection (fairness)
//   epoll-client idle PORT CONNECTIONS                       opens CONNECTIONS connections, prints
//       {"open":N} and holds them until its standard input closes
//   epoll-client busy PORT IDLE MESSAGES SIZE                IDLE idle connections beside one busy
//       connection doing MESSAGES round trips; prints {"messages":N,"elapsedMs":T}
//
// Loopback only (127.0.0.1); bounded in count; exits by itself.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int done;       // round trips completed
  int received;   // bytes of the current reply
  int mismatches;
} conn_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int open_conn(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); exit(1); }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

// Runs `count` connections of which the first `busy` do round trips (all of them when busy < 0).
// With `deadline_ms` > 0 the run stops then instead of after `messages` round trips.
static void run(int port, int count, int busy, int messages, int size, double deadline_ms) {
  conn_t *conns = calloc(count, sizeof *conns);
  char *line = malloc(size), *buf = malloc(65536);
  memset(line, 'x', size - 1);
  line[size - 1] = '\n';
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    conns[i].fd = open_conn(port);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  int active = busy < 0 ? count : busy;
  double start = now_ms();
  for (int i = 0; i < active; i++) {
    if (write(conns[i].fd, line, size) != size) { perror("write"); exit(1); }
  }
  int finished = 0;
  struct epoll_event events[1024];
  while (finished < active) {
    if (deadline_ms > 0 && now_ms() - start >= deadline_ms) break;
    int n = epoll_wait(ep, events, 1024, deadline_ms > 0 ? 100 : 10000);
    if (n == 0 && deadline_ms > 0) continue;
    if (n == 0) { fprintf(stderr, "no reply for 10 s\n"); exit(1); }
    for (int e = 0; e < n; e++) {
      conn_t *c = &conns[events[e].data.u32];
      for (;;) {
        ssize_t r = read(c->fd, buf, 65536);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0) { fprintf(stderr, "connection closed by the server\n"); exit(1); }
        for (ssize_t k = 0; k < r; k++) {
          if (buf[k] != line[(c->received + k) % size]) c->mismatches++;
        }
        c->received += r;
        while (c->received >= size) {
          c->received -= size;
          c->done++;
          if (messages > 0 && c->done == messages) finished++;
          else if (write(c->fd, line, size) != size) { perror("write"); exit(1); }
        }
      }
    }
  }
  double elapsed = now_ms() - start;
  long total = 0, mismatches = 0;
  int *done = malloc(sizeof(int) * (active > 0 ? active : 1));
  for (int i = 0; i < active; i++) {
    total += conns[i].done;
    mismatches += conns[i].mismatches;
    done[i] = conns[i].done;
  }
  qsort(done, active, sizeof(int), cmp_int);
  printf("{\"messages\":%ld,\"elapsedMs\":%.1f,\"mismatches\":%ld,\"min\":%d,\"median\":%d}\n",
         total, elapsed, mismatches, done[0], done[active / 2]);
  fflush(stdout);
  for (int i = 0; i < count; i++) close(conns[i].fd);
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: see the comment at the top of epoll-client.c\n"); return 2; }
  int port = atoi(argv[2]);
  if (strcmp(argv[1], "ping-pong") == 0 && argc == 6) {
    run(port, atoi(argv[3]), -1, atoi(argv[4]), atoi(argv[5]), 0);
  } else if (strcmp(argv[1], "timed") == 0 && argc == 6) {
    run(port, atoi(argv[3]), -1, 0, atoi(argv[5]), atof(argv[4]));
  } else if (strcmp(argv[1], "busy") == 0 && argc == 6) {
    run(port, atoi(argv[3]) + 1, 1, atoi(argv[4]), atoi(argv[5]), 0);
  } else if (strcmp(argv[1], "idle") == 0 && argc == 4) {
    int count = atoi(argv[3]);
    int *fds = malloc(sizeof(int) * count);
    for (int i = 0; i < count; i++) fds[i] = open_conn(port);
    printf("{\"open\":%d}\n", count);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    for (int i = 0; i < count; i++) close(fds[i]);
  } else {
    fprintf(stderr, "usage: see the comment at the top of epoll-client.c\n");
    return 2;
  }
  return 0;
}
