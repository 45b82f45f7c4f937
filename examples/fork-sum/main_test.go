package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestForkSum(t *testing.T) {
	var logs testutil.Buffer
	srv := httptest.NewServer(newServer(&logs))
	defer srv.Close()

	code, body := fetch(t, srv.URL+"/get-sum")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "sum is 4999950000", body)

	// A crashing child yields an error answer...
	code, body = fetch(t, srv.URL+"/get-sum?crash=1")
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Equal(t, "error\n", body)
	assert.Contains(t, logs.String(), "crashing on purpose")
	assert.Contains(t, logs.String(), "exited with status 1")

	// ...and the server keeps serving, concurrently too.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := fetch(t, srv.URL+"/get-sum")
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "sum is 4999950000", body)
		}()
	}
	wg.Wait()

	// The children's prints went to the log, tagged, not into the channel.
	assert.Contains(t, logs.String(), "compute.py[")
	assert.Contains(t, logs.String(), "child received: start")
}

// TestDemoFailsWithoutAnInterpreter: make demo, with POLYFORK_PYTHON naming no interpreter,
// says so and fails; it printed three "500 error" lines and exited 0.
func TestDemoFailsWithoutAnInterpreter(t *testing.T) {
	t.Setenv("POLYFORK_PYTHON", "/nonexistent/python3")
	srv := httptest.NewServer(newServer(io.Discard))
	defer srv.Close()
	var out testutil.Buffer
	err := runDemo(srv.URL, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 requests for /get-sum got no sum")
	assert.Contains(t, err.Error(), "/nonexistent/python3")
	assert.Contains(t, out.String(), "GET /get-sum?crash=1")
}

// TestDemo runs the demo as make demo does, with the interpreter the tests use.
func TestDemo(t *testing.T) {
	srv := httptest.NewServer(newServer(io.Discard))
	defer srv.Close()
	var out testutil.Buffer
	require.NoError(t, runDemo(srv.URL, &out))
	assert.Contains(t, out.String(), "200 sum is 4999950000")
}
