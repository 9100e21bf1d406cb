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
        if (!$this->store->take($this->name, $this->owner, max(0.0, (float) $seconds))) {
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
