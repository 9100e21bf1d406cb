<?php

declare(strict_types=1);

namespace ExakatLock\Laravel;

use Illuminate\Cache\Lock;
use Illuminate\Contracts\Cache\LockTimeoutException;

/** A Laravel lock over an exakat_lock lock; see ExakatLockStore for the semantics. */
final class ExakatLockLock extends Lock
{
    public function __construct(private readonly ExakatLockStore $store, string $name, $seconds, $owner = null)
    {
        parent::__construct($name, $seconds, $owner);
    }

    public function acquire()
    {
        return $this->store->take($this->name, $this->owner, 0.0);
    }

    /**
     * Waits in the kernel, woken the moment the lock is free: no 250 ms
     * polling. A negative wait is one try, as in Laravel's Lock::block().
     */
    public function block($seconds, $callback = null)
    {
        $seconds = max(0.0, (float) $seconds);
        // Laravel's drivers poll for ever here; the extension refuses an
        // endless wait that this process itself blocks. Either way the lock
        // cannot be had: Laravel's exception says so, not the extension's.
        if ($seconds === INF && $this->store->heldByAnotherOwner($this->name, $this->owner)) {
            throw new LockTimeoutException("Lock \"{$this->name}\" is held by another owner in this process: waiting for it without a limit would never end.");
        }
        if (!$this->store->take($this->name, $this->owner, $seconds)) {
            throw new LockTimeoutException();
        }
        if (is_callable($callback)) {
            try {
                return $callback();
            } finally {
                $this->release();
            }
        }
        return true;
    }

    public function release()
    {
        return $this->store->give($this->name, $this->owner);
    }

    /**
     * Nothing expires: the lock is held until released or the process ends.
     * True while this owner holds it, as Laravel's drivers answer.
     */
    public function refresh($seconds = null)
    {
        return $this->isOwnedByCurrentProcess();
    }

    /** Releases it whoever owns it in this process; another process's lock is its own. */
    public function forceRelease()
    {
        $this->store->give($this->name, null);
    }

    protected function getCurrentOwner()
    {
        return $this->store->ownerOf($this->name);
    }
}
