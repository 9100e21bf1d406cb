/*
 * The floor: the system calls of one uncontended acquire + release, issued
 * from C with no PHP around them, for each exakat_lock backend ("ours") and
 * for the PHP primitive of its mechanism ("primitive"). What ours adds is
 * the price of its guarantees (a set or file checked to still be ours, a
 * queue for hand-over); what the extension adds on top is the binding.
 * Prints one JSON object: nanoseconds per cycle, best of the given rounds.
 *
 *   floor ROUNDS CYCLES DIR
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
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

static int lock_fd, watch_fd, sem_id, sysvsem_id;
static struct sockaddr_un unix_address = {.sun_family = AF_UNIX};
static socklen_t unix_length;
static struct sockaddr_in tcp_address = {.sin_family = AF_INET};

/* PHP's flock() on a file kept open: lock, unlock. */
static void flock_primitive(void)
{
    if (flock(lock_fd, LOCK_EX | LOCK_NB) || flock(lock_fd, LOCK_UN))
        die("flock");
}

/* The flock backend: lock, ask the directory watch whether the name
 * changed (once after taking, once before giving back), unlock. */
static void flock_ours(void)
{
    int pending;
    if (flock(lock_fd, LOCK_EX | LOCK_NB) || ioctl(watch_fd, FIONREAD, &pending)
        || ioctl(watch_fd, FIONREAD, &pending) || flock(lock_fd, LOCK_UN))
        die("flock");
}

/* ext-sysvsem: sem_acquire() and sem_release() are one semop each. */
static void sem_primitive(void)
{
    struct sembuf take = {0, -1, SEM_UNDO}, give = {0, 1, SEM_UNDO};
    if (semop(sysvsem_id, &take, 1) || semop(sysvsem_id, &give, 1))
        die("semop");
}

/* The semaphore backend: check the remembered set (IPC_STAT) if the last
 * check is 10 ms old (the coarse clock, from the vDSO), take the writer
 * semaphore, ask its last pid before giving it back, give it back (a hold
 * older than 10 ms also asks IPC_STAT before: not in this loop). */
static void sem_ours(void)
{
    static struct timespec checked;
    struct timespec now;
    struct semid_ds info;
    struct sembuf take[4] = {{0, 0, IPC_NOWAIT}, {1, 0, IPC_NOWAIT}, {0, 1, SEM_UNDO}, {2, 1, SEM_UNDO}};
    struct sembuf give[2] = {{0, -1, SEM_UNDO | IPC_NOWAIT}, {2, -1, SEM_UNDO | IPC_NOWAIT}};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if ((now.tv_sec - checked.tv_sec) * 1000000000L + (now.tv_nsec - checked.tv_nsec) >= 10000000L) {
        if (semctl(sem_id, 0, IPC_STAT, &info))
            die("semctl");
        checked = now;
    }
    if (semop(sem_id, take, 4) || semctl(sem_id, 0, GETPID) < 0 || semop(sem_id, give, 2))
        die("semop");
}

static int listening(int family, const struct sockaddr *address, socklen_t length)
{
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0 || bind(s, address, length) || listen(s, 4096))
        die("socket");
    return s;
}

/* Nothing waits: a look at the queue finds it empty. */
static void nobody_queued(int s)
{
    struct pollfd queue = {.fd = s, .events = POLLIN};
    if (poll(&queue, 1, 0) != 0)
        die("poll");
}

/* stream_socket_server() on an abstract unix address, then fclose(). */
static void unix_primitive(void)
{
    close(listening(AF_UNIX, (struct sockaddr *) &unix_address, unix_length));
}

/* The socket backend: the same, and a look at its queue before closing. */
static void unix_ours(void)
{
    int s = listening(AF_UNIX, (struct sockaddr *) &unix_address, unix_length);
    nobody_queued(s);
    close(s);
}

/* stream_socket_server() on 127.0.0.1:port, then fclose(). */
static void tcp_primitive(void)
{
    close(listening(AF_INET, (struct sockaddr *) &tcp_address, sizeof tcp_address));
}

/* The tcp backend: the port (waiters queue on it), and a look at its
 * queue before closing. */
static void tcp_ours(void)
{
    int s = listening(AF_INET, (struct sockaddr *) &tcp_address, sizeof tcp_address);
    nobody_queued(s);
    close(s);
}

static double best_ns(void (*cycle)(void), int rounds, long cycles)
{
    double best = 1e18;
    for (int r = 0; r < rounds; r++) {
        double start = now_ns();
        for (long i = 0; i < cycles; i++)
            cycle();
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
    lock_fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (lock_fd < 0 || watch_fd < 0 || inotify_add_watch(watch_fd, argv[3], IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) < 0)
        die("lock file");
    sem_id = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    sysvsem_id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    struct sembuf one_free = {0, 1, 0};
    if (sem_id < 0 || sysvsem_id < 0 || semop(sysvsem_id, &one_free, 1))
        die("semget");
    static const char name[] = "\0exakat_lock-floor";
    memcpy(unix_address.sun_path, name, sizeof name - 1);
    unix_length = offsetof(struct sockaddr_un, sun_path) + sizeof name - 1;
    /* A free port for the tcp case: let the kernel choose one. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    tcp_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof tcp_address;
    if (bind(probe, (struct sockaddr *) &tcp_address, sizeof tcp_address)
        || getsockname(probe, (struct sockaddr *) &tcp_address, &len))
        die("probe");
    close(probe);

    printf("{\"flock\": {\"ours\": %.1f, \"primitive\": %.1f}, ", best_ns(flock_ours, rounds, cycles),
           best_ns(flock_primitive, rounds, cycles));
    printf("\"semaphore\": {\"ours\": %.1f, \"primitive\": %.1f}, ", best_ns(sem_ours, rounds, cycles),
           best_ns(sem_primitive, rounds, cycles));
    printf("\"socket\": {\"ours\": %.1f, \"primitive\": %.1f}, ", best_ns(unix_ours, rounds, cycles / 10),
           best_ns(unix_primitive, rounds, cycles / 10));
    printf("\"tcp\": {\"ours\": %.1f, \"primitive\": %.1f}}\n", best_ns(tcp_ours, rounds, cycles / 10),
           best_ns(tcp_primitive, rounds, cycles / 10));
    semctl(sem_id, 0, IPC_RMID);
    semctl(sysvsem_id, 0, IPC_RMID);
    unlink(path);
    return 0;
}
