package driver

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// echoServer answers as bench/peers/node_http.js does (or with status, when not 200, or a
// corrupted echo), and counts the connections it got.
func echoServer(t *testing.T, status int, corrupt bool) (addr string, conns *atomic.Int64) {
	conns = &atomic.Int64{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if corrupt && len(body) > 0 {
			body[len(body)-1] ^= 1
		}
		w.Header().Set("X-Pid", "4242")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), conns
}

func TestHTTPConn(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		addr, conns := echoServer(t, http.StatusOK, false)
		h := newHTTPConn(addr, keepAlive)
		for _, n := range []int{0, 16, 1 << 10, 1 << 20} {
			pid, err := h.post(strings.Repeat("x", n))
			if err != nil || pid != "4242" {
				t.Fatalf("keepAlive=%v, %d bytes: pid %q, %v", keepAlive, n, pid, err)
			}
		}
		h.close()
		want := int64(1)
		if !keepAlive {
			want = 4
		}
		if got := conns.Load(); got != want {
			t.Errorf("keepAlive=%v: %d connections, want %d", keepAlive, got, want)
		}
	}
}

func TestHTTPConnRefusesWrongAnswers(t *testing.T) {
	addr, _ := echoServer(t, http.StatusOK, true)
	if _, err := newHTTPConn(addr, true).post("hello"); err == nil || !strings.Contains(err.Error(), "wrong echo") {
		t.Errorf("a corrupted echo: %v", err)
	}
	addr, _ = echoServer(t, http.StatusTeapot, false)
	if _, err := newHTTPConn(addr, true).post("hello"); err == nil || !strings.Contains(err.Error(), `the answer is not 200: "HTTP/1.1 418 I'm a teapot"`) {
		t.Errorf("a 418: %v", err)
	}
	if _, err := newHTTPConn("127.0.0.1:1", true).post("hello"); err == nil {
		t.Error("no server: no error")
	}
}
