/*
 * The floor: the system calls each exakat_lock backend makes for one
 * uncontended acquire + release, issued from C with no PHP around them.
 * Prints one JSON object: nanoseconds per cycle, best of the given rounds.
 *
 *   floor ROUNDS CYCLES DIR
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* flock(2) on a descriptor kept open: the flock backend's hot path. */
static void flock_cycle(int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) || flock(fd, LOCK_UN))
        die("flock");
}

/* Wait-for-zero then +1 with SEM_UNDO, and -1: the semaphore backend's protocol. */
static int sem_id;
static void sem_cycle(int unused)
{
    (void) unused;
    struct sembuf take[2] = {{0, 0, IPC_NOWAIT}, {0, 1, SEM_UNDO}};
    struct sembuf give[1] = {{0, -1, SEM_UNDO | IPC_NOWAIT}};
    if (semop(sem_id, take, 2) || semop(sem_id, give, 1))
        die("semop");
}

/* socket + bind + listen + close on an abstract unix address. */
static void unix_cycle(int unused)
{
    (void) unused;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    static const char name[] = "\0exakat_lock-floor";
    memcpy(a.sun_path, name, sizeof name - 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0 || bind(s, (struct sockaddr *) &a, offsetof(struct sockaddr_un, sun_path) + sizeof name - 1) || listen(s, 4096))
        die("unix");
    close(s);
}

/* socket + bind + listen + close on 127.0.0.1:port. */
static int tcp_port;
static void tcp_cycle(int unused)
{
    (void) unused;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(tcp_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0 || bind(s, (struct sockaddr *) &a, sizeof a) || listen(s, 4096))
        die("tcp");
    close(s);
}

static double best_ns(void (*cycle)(int), int arg, int rounds, long cycles)
{
    double best = 1e18;
    for (int r = 0; r < rounds; r++) {
        double start = now_ns();
        for (long i = 0; i < cycles; i++)
            cycle(arg);
        double per = (now_ns() - start) / cycles;
        if (per < best)
            best = per;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s ROUNDS CYCLES DIR\n", argv[0]);
        return 2;
    }
    int rounds = atoi(argv[1]);
    long cycles = atol(argv[2]);
    char path[4096];
    snprintf(path, sizeof path, "%s/floor.lock", argv[3]);
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open");
    sem_id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (sem_id < 0)
        die("semget");
    /* A free port for the tcp case: let the kernel choose one. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(probe, (struct sockaddr *) &a, sizeof a) || getsockname(probe, (struct sockaddr *) &a, &len))
        die("probe");
    tcp_port = ntohs(a.sin_port);
    close(probe);

    printf("{\"flock\": %.1f, \"semaphore\": %.1f, \"socket\": %.1f, \"tcp\": %.1f}\n",
           best_ns(flock_cycle, fd, rounds, cycles), best_ns(sem_cycle, 0, rounds, cycles),
           best_ns(unix_cycle, 0, rounds, cycles / 10), best_ns(tcp_cycle, 0, rounds, cycles / 10));
    semctl(sem_id, 0, IPC_RMID);
    unlink(path);
    return 0;
}
