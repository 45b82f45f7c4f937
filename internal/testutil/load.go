package testutil

import (
	"errors"
	"sync"
	"syscall"
)

// Load makes requests from several goroutines until End, counting the answers by the pid
// that gave them and the failures by kind: the load of the cluster tests (kill -9, reload
// and drain under load). Its fields may be read once End has returned.
type Load struct {
	ByPid   map[int]int // answers, by the pid that gave them
	Refused int         // requests whose connection was refused (ECONNREFUSED)
	Failed  []string    // every other failure

	mu   sync.Mutex
	stop chan struct{}
	wg   sync.WaitGroup
}

// StartLoad runs hit from goroutines goroutines, over and over, until End. hit makes one
// request and returns the pid that answered it.
func StartLoad(goroutines int, hit func() (pid int, err error)) *Load {
	l := &Load{ByPid: map[int]int{}, stop: make(chan struct{})}
	for i := 0; i < goroutines; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				pid, err := hit()
				l.mu.Lock()
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					l.Refused++
				case err != nil:
					l.Failed = append(l.Failed, err.Error())
				default:
					l.ByPid[pid]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// Served is how many requests pid has answered so far.
func (l *Load) Served(pid int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ByPid[pid]
}

// Total is how many requests have been answered so far.
func (l *Load) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.ByPid {
		n += c
	}
	return n
}

// End stops the goroutines and waits for their last requests.
func (l *Load) End() {
	close(l.stop)
	l.wg.Wait()
}
