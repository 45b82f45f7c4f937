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
