package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHurryTakesASecondSignalSentBeforeTheDrain: a second SIGTERM that comes after the one
// that ended the command's context, but before the drain begins, cuts the drain short. The
// watch was armed at the drain, and main's NotifyContext swallowed it: the drain ran its
// course. Real signals, to this process (the watches catch them).
func TestHurryTakesASecondSignalSentBeforeTheDrain(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	t.Run("ended by a signal", func(t *testing.T) {
		s := watchStops()
		defer s.stop()
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM) // as main does
		defer stop()
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
		<-ctx.Done()
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM)) // before the drain
		now, release := s.hurry(ctx, log)
		defer release()
		select {
		case <-now.Done():
		case <-time.After(10 * time.Second): // a safety bound
			t.Fatal("the second signal was lost")
		}
	})
	t.Run("one signal does not hurry", func(t *testing.T) {
		s := watchStops()
		defer s.stop()
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
		<-ctx.Done()
		now, release := s.hurry(ctx, log)
		defer release()
		select {
		case <-now.Done():
			t.Fatal("the signal that began the drain cut it short")
		case <-time.After(200 * time.Millisecond):
		}
	})
	t.Run("a drain that began otherwise", func(t *testing.T) {
		// Cancelled without a signal (a test running the command in-process, or serving
		// that failed): the first signal hurries.
		s := watchStops()
		defer s.stop()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		now, release := s.hurry(ctx, log)
		defer release()
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
		select {
		case <-now.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the signal was lost")
		}
	})
}
