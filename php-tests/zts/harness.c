/*
 * Runs PHP scripts in threads of one ZTS PHP process, as a threaded server
 * (FrankenPHP, Apache's worker MPM) does: the embed SAPI starts PHP in the
 * main thread, then each worker thread gets its own globals (ts_resource),
 * runs a request, and frees its globals when it ends (ts_free_thread).
 *
 *   harness SCRIPT THREADS ROUNDS
 *
 * Every request runs SCRIPT with $THREAD (1..THREADS) and $ROUND set; each
 * round starts THREADS new threads and joins them. A script passes when it
 * leaves the global $failures at 0. After each request the harness checks,
 * from C, that pcntl_exec() in that thread's function table is exakat_lock's
 * wrapper. Exit status 0 when everything passed. The php.ini comes from
 * $PHPRC.
 *
 * Last, the main thread's request leaves a mysql connect to a frozen server
 * (a unix socket that nobody accepts on) running on its thread, and the
 * harness shuts PHP down, which unloads the extension; then it lets that
 * connect end, and the thread returns into exakat_lock.so. The library
 * must still be there: a threaded server that reloads its modules (a
 * graceful restart) goes on running after the unload.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sapi/embed/php_embed.h>

static const char *script;
static int threads;

struct job {
    int thread;
    int round;
    int failed;
};

/* Whether this thread's pcntl_exec() runs code of exakat_lock.so. */
static int pcntl_exec_is_wrapped(const char *who)
{
    zend_function *f = zend_hash_str_find_ptr(CG(function_table), "pcntl_exec", sizeof("pcntl_exec") - 1);
    Dl_info info;
    if (!f) {
        printf("%s: FAIL pcntl_exec() is not in this thread's function table\n", who);
        return 0;
    }
    if (!dladdr((void *) f->internal_function.handler, &info) || !info.dli_fname) {
        printf("%s: FAIL pcntl_exec()'s handler is in no loaded object\n", who);
        return 0;
    }
    if (!strstr(info.dli_fname, "exakat_lock")) {
        printf("%s: FAIL pcntl_exec() is not wrapped: its handler is in %s\n", who, info.dli_fname);
        return 0;
    }
    printf("%s: ok pcntl_exec() is exakat_lock's wrapper in this thread\n", who);
    return 1;
}

/* A frozen server: a unix socket at `path` that listens, never accepts, and
 * whose queue is full. Returns the listener, or -1. */
static int frozen_server(const char *path)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    unlink(path);
    if (listener < 0 || bind(listener, (struct sockaddr *) &address, sizeof address) != 0 || listen(listener, 0) != 0) {
        return -1;
    }
    for (int queued = 0; queued < 100; queued++) {
        int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (client < 0 || connect(client, (struct sockaddr *) &address, sizeof address) != 0) {
            return queued > 0 ? listener : -1; /* full */
        }
    }
    return -1;
}

/* Whether a file whose path contains `name` is mapped into this process. */
static int mapped(const char *name)
{
    char line[4096];
    int found = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && !found && fgets(line, sizeof line, maps)) {
        found = strstr(line, name) != NULL;
    }
    if (maps) {
        fclose(maps);
    }
    return found;
}

/* The number of threads of this process (/proc/self/status), or -1. */
static int thread_count(void)
{
    char line[256];
    int threads = -1;
    FILE *status = fopen("/proc/self/status", "r");
    while (status && fgets(line, sizeof line, status)) {
        if (sscanf(line, "Threads: %d", &threads) == 1) {
            break;
        }
    }
    if (status) {
        fclose(status);
    }
    return threads;
}

/* In the main thread's request: an acquire() whose connect to the frozen
 * server at `path` is given up on after 50 ms, its thread left waiting. */
static int leave_a_connect_running(const char *path)
{
    char code[1024];
    zval outcome;
    int ok;
    snprintf(code, sizeof code,
        "(function () { try { (new ExakatLock\\Lock('frozen', ExakatLock\\Lock::MYSQL,"
        " ['dsn' => 'mysql://user@localhost/?socket=%s', 'connect_timeout' => 0.05]))->acquire(0);"
        " return 'acquire() returned'; } catch (Throwable $e) { return $e->getMessage(); } })()", path);
    if (zend_eval_string(code, &outcome, "harness") == FAILURE || Z_TYPE(outcome) != IS_STRING) {
        printf("main thread: FAIL the connect to a frozen server did not run\n");
        return 0;
    }
    ok = strstr(Z_STRVAL(outcome), "did not answer in time") != NULL;
    printf("main thread: %s a connect to a frozen server is given up on: %s\n", ok ? "ok" : "FAIL", Z_STRVAL(outcome));
    zval_ptr_dtor(&outcome);
    return ok;
}

static int run_request(int thread, int round)
{
    char who[64], code[4096];
    int failed = 0;

    snprintf(who, sizeof who, "round %d thread %d", round, thread);
    SG(options) |= SAPI_OPTION_NO_CHDIR;
    if (php_request_startup() == FAILURE) {
        printf("%s: FAIL php_request_startup()\n", who);
        return 1;
    }
    SG(headers_sent) = 1;
    SG(request_info).no_headers = 1;
    snprintf(code, sizeof code, "$THREAD = %d; $THREADS = %d; $ROUND = %d; require '%s';", thread, threads, round, script);
    zend_first_try {
        zval *failures;
        /* 1: an uncaught exception is reported as PHP reports it. */
        if (zend_eval_string_ex(code, NULL, "harness", 1) == FAILURE) {
            failed = 1;
        }
        failures = zend_hash_str_find(&EG(symbol_table), "failures", sizeof("failures") - 1);
        if (failures) {
            ZVAL_DEREF(failures); /* the closures hold it by reference */
        }
        if (!failures || Z_TYPE_P(failures) != IS_LONG || Z_LVAL_P(failures) != 0) {
            printf("%s: FAIL the script did not end with $failures = 0\n", who);
            failed = 1;
        }
    } zend_catch {
        printf("%s: FAIL the script ended in a fatal error\n", who);
        failed = 1;
    } zend_end_try();
    if (!pcntl_exec_is_wrapped(who)) {
        failed = 1;
    }
    php_request_shutdown(NULL);
    return failed;
}

static void *worker(void *arg)
{
    struct job *job = arg;
    (void) ts_resource(0);
    job->failed = run_request(job->thread, job->round);
    ts_free_thread();
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds, failed = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: %s SCRIPT THREADS ROUNDS\n", argv[0]);
        return 2;
    }
    script = argv[1];
    threads = atoi(argv[2]);
    rounds = atoi(argv[3]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (php_embed_init(argc, argv) == FAILURE) {
        fprintf(stderr, "FAIL php_embed_init()\n");
        return 1;
    }
    if (!zend_hash_str_exists(&module_registry, "exakat_lock", sizeof("exakat_lock") - 1)) {
        printf("FAIL exakat_lock is not loaded (PHPRC=%s)\n", getenv("PHPRC") ? getenv("PHPRC") : "");
        failed = 1;
    }
    /* The main thread's request, started by php_embed_init(). */
    if (!pcntl_exec_is_wrapped("main thread")) {
        failed = 1;
    }
    for (int round = 1; round <= rounds && !failed; round++) {
        pthread_t ids[threads];
        struct job jobs[threads];
        for (int i = 0; i < threads; i++) {
            jobs[i] = (struct job) { .thread = i + 1, .round = round };
            if (pthread_create(&ids[i], NULL, worker, &jobs[i]) != 0) {
                printf("FAIL pthread_create\n");
                return 1;
            }
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(ids[i], NULL);
            failed |= jobs[i].failed;
        }
    }
    char frozen[512];
    const char *dir = getenv("EXAKAT_LOCK_ZTS_DIR");
    snprintf(frozen, sizeof frozen, "%s/frozen-mysqld.sock", dir ? dir : "/tmp");
    int listener = frozen_server(frozen);
    if (listener < 0) {
        printf("FAIL cannot make a frozen server at %s\n", frozen);
        failed = 1;
    } else if (!leave_a_connect_running(frozen)) {
        failed = 1;
    }
    php_embed_shutdown();
    if (listener >= 0) {
        int loaded = mapped("exakat_lock");
        printf("%s exakat_lock.so stays loaded after PHP's shutdown while a connect thread runs\n", loaded ? "ok" : "FAIL");
        failed |= !loaded;
        /* The connect fails now, and its thread returns into the library
         * (which, unloaded, would be a SIGSEGV here) and ends. */
        int before = thread_count(), after = before;
        close(listener);
        unlink(frozen);
        for (int waited = 0; waited < 100 && after >= before; waited++) {
            usleep(20000);
            after = thread_count();
        }
        printf("%s the connect thread ended after the shutdown (threads: %d, then %d)\n",
            after < before ? "ok" : "FAIL", before, after);
        failed |= after >= before;
    }
    printf("%s\n", failed ? "FAILED" : "ALL OK");
    return failed;
}
