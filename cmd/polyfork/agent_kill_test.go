package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// agentProc is a polyfork agent running as a process of its own.
type agentProc struct {
	tag    string
	cmd    *exec.Cmd
	stderr *testutil.Buffer
	exited chan struct{} // closed once cmd.Wait has returned: the one Wait, shared
}

func startAgentProc(t *testing.T, bin, tag string, args ...string) *agentProc {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("..", "..", "clients", "python", "src"))
	require.NoError(t, err)
	a := &agentProc{tag: tag, stderr: &testutil.Buffer{}}
	a.cmd = exec.Command(bin, append(append([]string{"agent"}, args...), append([]string{"--"}, remoteWorker()...)...)...)
	a.cmd.Env = append(os.Environ(), "AGENT_TAG="+tag, "PYTHONPATH="+src)
	a.cmd.Stderr = a.stderr
	require.NoError(t, a.cmd.Start())
	a.exited = make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		<-a.exited
		if t.Failed() {
			t.Logf("agent %s's stderr:\n%s", tag, a.stderr.String())
		}
	})
	testutil.Eventually(t, "agent "+tag+" to serve", func() bool { return strings.Contains(a.stderr.String(), "serving \"load\"") })
	return a
}

// natsURLRE finds the URL of the NATS server an agent started with -embed-nats.
var natsURLRE = regexp.MustCompile(`NATS server listening on (nats://\S+)`)

// natsURL returns the URL of the NATS server the agent embeds. Started with -embed-nats
// 127.0.0.1:0, the server takes a port no other process holds: a port picked free by the
// test beforehand could be taken by then, and the agent failed to start.
func (a *agentProc) natsURL(t *testing.T) string {
	t.Helper()
	m := natsURLRE.FindStringSubmatch(a.stderr.String())
	require.NotNil(t, m, "agent %s names no NATS server:\n%s", a.tag, a.stderr.String())
	return m[1]
}

// outcome is what one call of the load ended with.
type outcome struct {
	idempotent bool
	agent      string
	pid        int64
	err        error
	end        time.Time
}

// TestAgentKilledUnderLoad runs three agents as processes (the first with the NATS server
// inside), spreads calls over them, and kills one with SIGKILL in the middle: every call
// succeeds or fails with a reason, the idempotent ones all succeed, and durable sends are
// all done, the killed agent's included.
func TestAgentKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agents and nine Python workers")
	}
	bin := buildPolyfork(t)

	// -max-in-flight 32: either agent left after the kill takes all 32 callers at once. With
	// the default (16), the two left could hold no more than the callers: the calls NATS
	// sent to the fuller one were answered Saturated, and a call that drew it on all its
	// tries failed (an idempotent one included) for a reason that is not the kill.
	common := []string{"-service", "load", "-workers", "2", "-concurrency", "4", "-max-in-flight", "32", "-durable", "-durable-method", "job", "-ack-wait", "2s"}
	url := startAgentProc(t, bin, "A", append([]string{"-embed-nats", "127.0.0.1:0"}, common...)...).natsURL(t)
	b := startAgentProc(t, bin, "B", append([]string{"-nats", url}, common...)...)
	startAgentProc(t, bin, "C", append([]string{"-nats", url}, common...)...)

	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	require.NoError(t, err)
	defer nc.Close()
	var doneMu sync.Mutex
	done := map[int64]string{} // durable job -> the agent that did it (the last one)
	redone := 0
	pool, err := remote.Dial(context.Background(), nc, "load", remote.WithDurableSends(), remote.OnMessage(func(v any) {
		m, _ := v.(map[string]any)
		job, _ := m["done"].(int64)
		doneMu.Lock()
		if _, again := done[job]; again {
			redone++
		}
		done[job], _ = m["agent"].(string)
		doneMu.Unlock()
	}))
	require.NoError(t, err)
	defer pool.Close()
	agents, err := remote.Agents(ctxFor(t, 10*time.Second), nc, "load")
	require.NoError(t, err)
	require.Len(t, agents, 3)

	const calls, callers, jobs = 900, 32, 300
	outcomes := make([]outcome, calls)
	var next, finished atomic.Int64
	var killedAt time.Time
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= calls {
					return
				}
				o := &outcomes[i]
				o.idempotent = i%2 == 0
				var opts []bridge.CallOption
				if o.idempotent {
					opts = append(opts, bridge.Idempotent())
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				var res struct {
					Pid   int64  `msgpack:"pid"`
					Agent string `msgpack:"agent"`
				}
				o.err = pool.Call(ctx, "whoami", []any{15}, &res, opts...)
				cancel()
				o.agent, o.pid, o.end = res.Agent, res.Pid, time.Now()
				if finished.Add(1) == calls/3 {
					killedAt = time.Now()
					assert.NoError(t, b.cmd.Process.Signal(syscall.SIGKILL))
					close(killed)
				}
			}
		}()
	}
	sendCtx := ctxFor(t, time.Minute)
	for j := range jobs {
		require.NoError(t, pool.Send(sendCtx, int64(j)))
		if j == jobs/2 {
			<-killed // half the durable sends before the kill, half after
		}
	}
	wg.Wait()

	shares := map[string]int{}
	pids := map[string]map[int64]bool{}
	var failures []string
	var slowest time.Duration
	for i, o := range outcomes {
		switch {
		case o.err == nil:
			shares[o.agent]++
			if pids[o.agent] == nil {
				pids[o.agent] = map[int64]bool{}
			}
			pids[o.agent][o.pid] = true
		case o.idempotent:
			t.Errorf("idempotent call %d failed: %v", i, o.err)
		case errors.Is(o.err, context.DeadlineExceeded):
			t.Errorf("call %d waited for its deadline instead of failing with a reason: %v", i, o.err)
		case errors.Is(o.err, remote.ErrAgentLost), errors.Is(o.err, bridge.ErrExited):
			failures = append(failures, o.err.Error())
			slowest = max(slowest, o.end.Sub(killedAt))
		default:
			t.Errorf("call %d failed with an unexpected error: %v", i, o.err)
		}
	}
	t.Logf("%d calls from %d goroutines, half idempotent; agent B killed (SIGKILL) after %d had finished", calls, callers, calls/3)
	t.Logf("shares: A %d, B %d, C %d (%d failed with a reason)", shares["A"], shares["B"], shares["C"], len(failures))
	if len(failures) > 0 {
		t.Logf("the last failure came %v after the kill (heartbeat bound 2s); one of them: %s", slowest.Round(time.Millisecond), failures[0])
	}
	for _, tag := range []string{"A", "B", "C"} {
		assert.Positive(t, shares[tag], "agent %s served no call", tag)
	}
	assert.Equal(t, calls, shares["A"]+shares["B"]+shares["C"]+len(failures))

	// The killed agent's workers went with it.
	for pid := range pids["B"] {
		testutil.Eventually(t, fmt.Sprint("B's worker ", pid, " to be gone"), func() bool {
			return !alive(int(pid)) // dead: a zombie not yet reaped by whoever adopted it counts
		})
	}

	// Every durable send was done, at least once: those B had taken when it died were
	// redelivered after the ack wait.
	deadline := time.Now().Add(30 * time.Second)
	for {
		doneMu.Lock()
		n := len(done)
		doneMu.Unlock()
		if n == jobs || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	doneMu.Lock()
	defer doneMu.Unlock()
	by := map[string]int{}
	var missing []int64
	for j := range int64(jobs) {
		if tag, ok := done[j]; ok {
			by[tag]++
		} else {
			missing = append(missing, j)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
	t.Logf("durable jobs: %d of %d done (last done by A %d, B %d, C %d), %d done more than once", len(done), jobs, by["A"], by["B"], by["C"], redone)
	assert.Empty(t, missing, "durable jobs never done")
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestACallWhoseCallerDiedIsCancelled: the caller of a call with no deadline (serve -nats
// -timeout 0) is killed with SIGKILL while an agent runs the call. Nothing told the
// agent: its beats went to a reply subject nobody subscribed to any more, the call ran on
// for as long as its handler did (an hour here), holding its place and its worker. Now the
// NATS server's "no responders" for the beats tells it, and the call is cancelled: the
// handler gets $cancel and the agent is idle again (docs/faults.md).
func TestACallWhoseCallerDiedIsCancelled(t *testing.T) {
	withPythonPath(t)
	s := natsServer(t, remote.ServerConfig{})
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := remote.NewAgent(ctx, nc, "orphans", remoteWorker(), remote.AgentPool(bridge.WithWorkers(1)))
	require.NoError(t, err)
	defer a.Kill()

	caller := startServeBinary(t, "-nats", s.ClientURL(), "-service", "orphans", "-timeout", "0")
	go func() { // answered by nobody: its caller dies
		if resp, err := freshClient.Post(caller.base+"/call/sleep", "application/json", strings.NewReader("[3600000]")); err == nil {
			resp.Body.Close()
		}
	}()
	testutil.Eventually(t, "the call running on the agent", func() bool { return a.Stats().InFlight == 1 })
	require.NoError(t, caller.cmd.Process.Kill())
	<-caller.done

	testutil.Eventually(t, "the agent idle again", func() bool { return a.Stats().InFlight == 0 })
	st := a.Stats()
	assert.Equal(t, int64(1), st.Failed)
	assert.Contains(t, st.LastError, "canceled")
	p, err := remote.Dial(ctx, nc, "orphans")
	require.NoError(t, err)
	defer p.Close()
	var sum int
	require.NoError(t, p.Call(ctx, "add", []any{1, 2}, &sum), "the worker serves on")
	assert.Equal(t, 3, sum)
}

// TestAgentReloadsOnSIGHUP: SIGHUP, which reloads serve and cluster, killed polyfork agent
// (exit 129: no drain, its calls in flight lost, and with -embed-nats the NATS server of
// every other agent and caller). It replaces the workers one by one now, the call in
// flight answered (docs/faults.md).
func TestAgentReloadsOnSIGHUP(t *testing.T) {
	withPythonPath(t)
	var logs testutil.Buffer
	cmd := exec.Command(buildPolyfork(t), append([]string{"agent", "-embed-nats", "127.0.0.1:0", "-service", "hup", "-workers", "1", "--"}, remoteWorker()...)...)
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testutil.Eventually(t, "the agent serving", func() bool { return strings.Contains(logs.String(), `serving "hup"`) })
	nc, err := nats.Connect(natsURLRE.FindStringSubmatch(logs.String())[1])
	require.NoError(t, err)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := remote.Dial(ctx, nc, "hup")
	require.NoError(t, err)
	defer p.Close()
	var before, after struct{ Pid int }
	require.NoError(t, p.Call(ctx, "whoami", []any{0}, &before))

	answered := make(chan error, 1)
	go func() { answered <- p.Call(ctx, "whoami", []any{500}, nil) }() // in flight during the reload
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.NoError(t, <-answered, "the call in flight is answered: %s", logs.String())
	testutil.Eventually(t, "the reload", func() bool { return strings.Contains(logs.String(), "msg=reloaded") })
	require.NoError(t, p.Call(ctx, "whoami", []any{0}, &after))
	assert.NotEqual(t, before.Pid, after.Pid, "the worker was replaced")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), logs.String())
}

// TestAgentSecondSignalStopsTheDrain: an agent draining a call that would run for minutes
// (-drain 60s) stops now at a second SIGTERM: the call is answered AgentStopped, the
// workers are killed, and the agent exits 3. The second signal was lost.
//
// The NATS server is the test's, not one embedded in the agent: that one would leave with
// the agent, and the caller would then race the AgentStopped answer against its lost
// connection (ErrDisconnected), as it did now and then on a loaded machine.
func TestAgentSecondSignalStopsTheDrain(t *testing.T) {
	bin := buildPolyfork(t)
	s := natsServer(t, remote.ServerConfig{})
	a := startAgentProc(t, bin, "A", "-nats", s.ClientURL(), "-service", "load", "-workers", "1", "-drain", "60s")
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	p, err := remote.Dial(context.Background(), nc, "load")
	require.NoError(t, err)
	defer p.Close()
	called := make(chan error, 1)
	go func() { called <- p.Call(context.Background(), "sleep", []any{600000}, nil) }()
	testutil.Eventually(t, "the call runs", func() bool {
		st, err := remote.Agents(context.Background(), nc, "load")
		return err == nil && len(st) == 1 && st[0].Stats.InFlight == 1
	})

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	testutil.Eventually(t, "the drain began", func() bool { return strings.Contains(a.stderr.String(), "draining") })
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second): // a safety bound: the drain would take 60 s
		t.Fatalf("the agent still drains after a second SIGTERM:\n%s", a.stderr.String())
	}
	assert.Equal(t, exitFailure, a.cmd.ProcessState.ExitCode(), a.stderr.String())
	assert.Contains(t, a.stderr.String(), "a second signal during the drain: stopping now")
	select {
	case err := <-called:
		assert.ErrorIs(t, err, bridge.ErrExited, "the call was answered AgentStopped")
	case <-time.After(30 * time.Second):
		t.Fatal("the call in flight was never answered")
	}
}
