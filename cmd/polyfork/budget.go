package main

import (
	"container/list"
	"context"
	"sync"
)

// byteBudget bounds the bytes of request bodies held at once: a weighted semaphore whose
// waiters are served in order, so that a large body is not overtaken forever by small ones
// (golang.org/x/sync/semaphore works the same way). It is safe for concurrent use.
type byteBudget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when the bytes were granted
}

func newByteBudget(size int64) *byteBudget { return &byteBudget{size: size} }

// acquire takes n bytes of the budget (at most its size), waiting in line while they are
// not free. It returns ctx's error if ctx ends first; then nothing is taken.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	n = min(n, b.size)
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.size-b.used >= n {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted while ctx ended: give the bytes back.
			b.used -= n
			b.grantLocked()
		default:
			front := b.waiters.Front() == elem
			b.waiters.Remove(elem)
			if front {
				b.grantLocked() // the waiters behind may fit now
			}
		}
		b.mu.Unlock()
		return ctx.Err()
	}
}

// tryAcquire takes n bytes of the budget (at most its size) if they are free now and no one
// waits in line, and reports whether it did. It never waits.
func (b *byteBudget) tryAcquire(n int64) bool {
	n = min(n, b.size)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiters.Len() == 0 && b.size-b.used >= n {
		b.used += n
		return true
	}
	return false
}

// release gives back n bytes taken by acquire or tryAcquire.
func (b *byteBudget) release(n int64) {
	n = min(n, b.size)
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.mu.Unlock()
		panic("polyfork: byteBudget released more than it gave")
	}
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked serves waiters in order while they fit.
func (b *byteBudget) grantLocked() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.size-b.used < w.n {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// inUse returns the bytes taken now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
