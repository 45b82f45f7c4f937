package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// callTimeout is how long a call may take before the soak counts it as hung. It is far
// above anything a call should take, connection floods and restarts included.
const callTimeout = 60 * time.Second

// apiError is the body of serve's error answers.
type apiError struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// call is one call through a pool: what to send and what must come back.
type call struct {
	method     string
	body       []byte
	idempotent bool
	want       any    // the result a 200 must carry
	wantRaise  string // for fail: the message of the ConformanceError it must raise
}

// newCall picks the n-th call: mostly echoes of varied values that carry n, so that an
// answer given to the wrong call is caught, and some adds, raises and short sleeps.
func newCall(n int64, rng *rand.Rand) call {
	c := call{idempotent: rng.IntN(2) == 0}
	switch p := rng.IntN(100); {
	case p < 70:
		v := echoValue(n, rng)
		c.method, c.body, c.want = "echo", mustJSON([]any{v}), roundTrip(v)
	case p < 87:
		a, b := rng.Int64N(2e9)-1e9, rng.Int64N(2e9)-1e9
		c.method, c.body, c.want = "add", mustJSON([]any{a, b}), float64(a+b)
	case p < 95:
		c.method, c.wantRaise = "fail", fmt.Sprintf("soak call %d raises", n)
		c.body = mustJSON([]any{c.wantRaise})
	default:
		c.method, c.body, c.want = "sleep", mustJSON([]any{1 + rng.IntN(10)}), "slept"
	}
	return c
}

// echoValue returns a value that every language round-trips exactly (no empty maps, no
// integral floats, no map keys that look like list indices: see protocol/SPEC.md section
// 7), of a size that varies from a few bytes to a few KiB.
func echoValue(n int64, rng *rand.Rand) any {
	switch rng.IntN(5) {
	case 0:
		return n
	case 1:
		return fmt.Sprintf("call %d: héllo wörld ✓ 🎉", n)
	case 2:
		return []any{n, -n - 1, 0.5, -1.25, true, false, nil, "x", []any{"nested", []any{n}}}
	case 3:
		return map[string]any{"call": n, "name": "soak", "tags": []any{"a", "b"}, "ratio": 0.75,
			"inner": map[string]any{"ok": true, "none": nil}}
	default:
		return map[string]any{"call": n, "blob": strings.Repeat("polyfork ", 64+rng.IntN(512))}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// roundTrip returns v as encoding/json decodes its own encoding, to compare answers with.
func roundTrip(v any) any {
	var out any
	if err := json.Unmarshal(mustJSON(v), &out); err != nil {
		panic(err)
	}
	return out
}

// doCall sends c to s and returns its outcome and, for outcomes that are not answered, a
// message saying what came back.
func doCall(ctx context.Context, client *http.Client, s *server, c call) (outcome, string) {
	o := outcome{Traffic: "call", Kind: c.method, Lang: s.lang}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/call/"+c.method, bytes.NewReader(c.body))
	if err != nil {
		panic(err)
	}
	if c.idempotent {
		req.Header.Set("Idempotency", "true")
	}
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		o.Verdict = lost
		if errors.Is(err, context.DeadlineExceeded) {
			o.Type = "no answer within " + callTimeout.String()
		} else {
			o.Type = "transport error"
		}
		return o, err.Error()
	}
	o.Status = resp.StatusCode
	if resp.StatusCode == http.StatusOK {
		var got any
		if err := json.Unmarshal(body, &got); err != nil || c.wantRaise != "" || !reflect.DeepEqual(got, c.want) {
			o.Verdict, o.Type = unexpected, "wrong result"
			return o, fmt.Sprintf("sent %s, got %s", c.body, body)
		}
		o.Verdict = answered
		return o, ""
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		o.Verdict, o.Type = unexpected, "not an error object"
		return o, string(body)
	}
	o.Type = e.Error.Type
	switch {
	case resp.StatusCode == http.StatusInternalServerError && c.wantRaise != "" &&
		e.Error.Type == "ConformanceError" && e.Error.Message == c.wantRaise:
		o.Verdict = answered
	case s.killExplains(resp.StatusCode, e.Error.Type, e.Error.Message):
		o.Verdict = explained
	default:
		o.Verdict = unexpected
	}
	return o, e.Error.Message
}

// killExplains reports whether an error answer is one the soak's kills cause: the call
// was on a worker that was killed (502 WorkerExited), or it came while every worker of the
// pool was restarting and the pool, counting the kills, called it a crash loop (503
// CrashLooping). Either way the message names the SIGKILL.
func (s *server) killExplains(status int, typ, message string) bool {
	byKill := s.kills.Load() > 0 && strings.Contains(message, "killed by signal 9")
	return byKill && (status == http.StatusBadGateway && typ == "WorkerExited" ||
		status == http.StatusServiceUnavailable && typ == "CrashLooping")
}
