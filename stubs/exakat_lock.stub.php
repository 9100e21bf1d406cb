<?php

/**
 * The PHP surface of the exakat_lock extension: the contract in docs/API.md,
 * as PHP declarations for IDEs and static analysers. Never load it in PHP
 * where the extension is: it declares the same names. Written by hand, one
 * declaration per line, and checked against the loaded extension (parameter
 * attributes and class tags included) by
 * php-tests/stub_matches_the_extension.phpt.
 *
 * INI entries (all PHP_INI_ALL):
 * @ini exakat_lock.default_backend "auto"         what Lock::AUTO means; also first in exakat_lock_backends() when usable
 * @ini exakat_lock.dir ""                         lock file directory for flock; empty: sys_get_temp_dir()
 * @ini exakat_lock.tcp_port_range "61000-65535"   where tcp ports derived from names fall
 * @ini exakat_lock.mysql_dsn ""                   default DSN for mysql; shown with its password masked
 * @ini exakat_lock.mysql_dsn_file ""              a file holding the default DSN, read when a lock is made; used when mysql_dsn is empty
 *                                                 empty both: env EXAKAT_LOCK_MYSQL_DSN, else env EXAKAT_LOCK_MYSQL_DSN_FILE
 */

namespace {
    /**
     * Takes $name for the rest of the process: true once held, false when the time ran out.
     * $options takes the backend's options, 'slots' => int (1-1024), and 'shared' => bool (semaphore, flock).
     */
    function exakat_lock(string $name, float $timeout = 0.0, string $backend = 'auto', #[\SensitiveParameter] array $options = []): bool {}

    /** Releases a lock taken with exakat_lock(): true if it did, false otherwise. */
    function exakat_unlock(string $name): bool {}

    /** null when $name is free, else ['pid' => ?int, 'host' => ?string, 'since' => ?float, ...]. */
    function exakat_lock_holder(string $name, string $backend = 'auto', #[\SensitiveParameter] array $options = []): ?array {}

    /** The backends usable on this system, best first. */
    function exakat_lock_backends(): array {}

    /**
     * The locks held on this host that this process can see: ['name' => ?string, 'backend' => string,
     * 'resource' => string, 'holders' => array] each. $backend null: every local backend, and the server too
     * when 'dsn' or 'dsn_file' is given; 'mysql' asks the server.
     * $options: 'dir' (flock), 'dsn', 'dsn_file', 'connect_timeout' (mysql).
     */
    function exakat_lock_list(?string $backend = null, #[\SensitiveParameter] array $options = []): array {}
}

namespace ExakatLock {
    /**
     * Dynamic properties throw Error; serialize() and clone throw too.
     *
     * @strict-properties
     * @not-serializable
     */
    final class Lock
    {
        public const AUTO = 'auto';
        public const SOCKET = 'socket';
        public const TCP = 'tcp';
        public const SEMAPHORE = 'semaphore';
        public const FLOCK = 'flock';
        public const MYSQL = 'mysql';
        public const WAIT_FOREVER = -1.0;

        /** Validates everything; takes nothing yet. */
        public function __construct(string $name, string $backend = \ExakatLock\Lock::AUTO, #[\SensitiveParameter] array $options = []) {}

        /** 0: one try; > 0: wait that many seconds; negative or INF: no limit. With 'slots' => N: any of N slots. */
        public function acquire(float $timeout = 0.0): bool {}

        /** Held together with other shared holders, never with acquire(); semaphore and flock only. */
        public function acquireShared(float $timeout = 0.0): bool {}

        /** Whether this object holds the lock shared. */
        public function isShared(): bool {}

        /** The slot held (0 to slots - 1), null when none. */
        public function slot(): ?int {}

        /** true if this object held the lock and now does not. */
        public function release(): bool {}

        /** Whether this object holds the lock now (mysql: asks the server). */
        public function isHeld(): bool {}

        /** null when free, else ['pid' => ?int, 'host' => ?string, 'since' => ?float, ...]. */
        public function holder(): ?array {}

        /** Every holder: holder()'s arrays plus 'mode' => 'exclusive'|'shared' and 'slot' => ?int; [] when free. */
        public function holders(): array {}

        public function name(): string {}

        /** The backend in use, never 'auto'. */
        public function backend(): string {}

        /** Acquire (shared with 'shared' => true in $options) or throw LockTimeoutException; call $callback; release whatever happens. */
        public static function synchronized(string $name, callable $callback, float $timeout = 0.0, string $backend = \ExakatLock\Lock::AUTO, #[\SensitiveParameter] array $options = []): mixed {}

        /** What var_dump() shows: name, backend, held, shared, slots, resource; never a password. */
        public function __debugInfo(): array {}
    }

    /** A failure that is not contention: names the lock, the backend and the cause. */
    class LockException extends \RuntimeException {}

    /** synchronized() could not get the lock in time; names the holder when known. */
    class LockTimeoutException extends LockException {}
}
