package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// AgentInfo is one agent as its NATS micro STATS answer describes it.
type AgentInfo struct {
	Service  string            `json:"service"`
	ID       string            `json:"id"`
	Version  string            `json:"version"`
	Metadata map[string]string `json:"metadata"` // host, pid, command, and AgentMetadata's
	Started  time.Time         `json:"started"`
	Requests int               `json:"requests"` // calls and notifications received (micro's count)
	Stats    AgentStats        `json:"stats"`
}

// quietAfter is how long Agents waits for more answers after the last one.
const quietAfter = 300 * time.Millisecond

// Agents asks every polyfork agent of service (every polyfork service, if service is "")
// for its stats with the NATS micro STATS request ($SRV.STATS.NAME) and returns the
// answers, by service and host. Since NATS does not say how many will answer, it waits
// until no answer came for 300 ms, or ctx ends (which is not an error once one answered).
// When no service answers at all (NATS says "no responders"), it returns an error matching
// ErrNoAgents at once.
func Agents(ctx context.Context, nc *nats.Conn, service string) ([]AgentInfo, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if nc == nil {
		return nil, errNilConn // it panicked
	}
	name := ""
	if service != "" {
		if err := CheckServiceName(service); err != nil {
			return nil, err
		}
		name = service
	}
	subject, err := micro.ControlSubject(micro.StatsVerb, name, "")
	if err != nil {
		return nil, err
	}
	// Subscribing and publishing take the connection's lock, which a publish on a stalled
	// connection holds for up to its FlusherTimeout (a minute by default): the request
	// runs on a goroutine of its own, so that ctx bounds it (serve's /healthz allows 1 s).
	type listing struct {
		out []AgentInfo
		err error
	}
	done := make(chan listing, 1)
	go func() {
		out, err := agents(ctx, nc, subject)
		done <- listing{out, err}
	}()
	select {
	case l := <-done:
		return l.out, l.err
	case <-ctx.Done():
	}
	t := time.NewTimer(quietAfter) // it may be ending with what it heard
	defer t.Stop()
	select {
	case l := <-done:
		return l.out, l.err
	case <-t.C:
		return nil, fmt.Errorf("remote: listing agents: no answer (%w; the NATS connection takes no data)", ctx.Err())
	}
}

// agents is Agents once its arguments are checked: it asks subject and gathers the answers.
func agents(ctx context.Context, nc *nats.Conn, subject string) ([]AgentInfo, error) {
	var (
		mu     sync.Mutex
		out    []AgentInfo
		errs   []error
		none   bool // NATS said no responders: nothing subscribes, nothing will answer
		answer = make(chan struct{}, 1)
	)
	inbox := nc.NewInbox()
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		var st micro.Stats
		mu.Lock()
		defer mu.Unlock()
		if isNoResponders(m) {
			none = true
		} else if code := m.Header.Get(HeaderErrorCode); code != "" {
			errs = append(errs, fmt.Errorf("remote: an agent answered STATS with error %s: %s", code, m.Header.Get(HeaderError)))
		} else if err := json.Unmarshal(m.Data, &st); err != nil {
			errs = append(errs, fmt.Errorf("remote: a STATS answer that is not JSON: %w", err))
		} else if info, ok := agentInfo(st); ok {
			out = append(out, info)
		}
		select {
		case answer <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("remote: listing agents: %w", err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, fmt.Errorf("remote: listing agents: %w", err)
	}
	if err := flush(ctx, nc); err != nil {
		return nil, fmt.Errorf("remote: listing agents: %w", err)
	}
	heard := false
	for {
		wait := quietAfter
		if !heard {
			wait = time.Hour // the first answer waits for ctx alone
		}
		t := time.NewTimer(wait)
		select {
		case <-answer:
			heard = true
			t.Stop()
			mu.Lock()
			nobody := none && len(out) == 0
			mu.Unlock()
			if nobody {
				return nil, fmt.Errorf("remote: listing agents: %w (NATS: no responders on %s)", ErrNoAgents, subject)
			}
			continue
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if !heard {
				return nil, fmt.Errorf("remote: listing agents: no answer (%w)", ctx.Err())
			}
		}
		break
	}
	_ = sub.Unsubscribe()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Metadata["host"] != out[j].Metadata["host"] {
			return out[i].Metadata["host"] < out[j].Metadata["host"]
		}
		return out[i].Metadata["pid"] < out[j].Metadata["pid"]
	})
	if len(out) == 0 && len(errs) > 0 {
		return nil, errs[0]
	}
	return out, nil
}

// agentInfo reads a polyfork agent's STATS; it reports false for other services.
func agentInfo(st micro.Stats) (AgentInfo, bool) {
	if st.Metadata["polyfork"] == "" {
		return AgentInfo{}, false
	}
	info := AgentInfo{Service: st.Name, ID: st.ID, Version: st.Version, Metadata: st.Metadata, Started: st.Started}
	for _, e := range st.Endpoints {
		info.Requests += e.NumRequests
		if e.Name == "call" && len(e.Data) > 0 {
			_ = json.Unmarshal(e.Data, &info.Stats)
		}
	}
	return info, true
}
