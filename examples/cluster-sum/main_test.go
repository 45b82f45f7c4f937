package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fetch(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestClusterSurvivesKill9 is the seed's cluster demo: kill -9 a worker and the service
// keeps answering, in every language.
func TestClusterSurvivesKill9(t *testing.T) {
	for _, lang := range []string{"python", "php", "node"} {
		t.Run(lang, func(t *testing.T) {
			argv, _, err := command(lang)
			require.NoError(t, err)
			_, err = exec.LookPath(argv[0])
			require.NoError(t, err, "%s is needed: run scripts/setup.sh", argv[0])
			var logs testutil.Buffer
			pool, handler, err := newCluster(context.Background(), lang, 2, &logs)
			require.NoError(t, err, logs.String())
			defer pool.Kill()
			srv := httptest.NewServer(handler)
			defer srv.Close()

			code, body, err := fetch(srv.URL + "/")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, logs.String())
			assert.Contains(t, body, fmt.Sprintf("done by %s worker", lang))
			assert.Contains(t, body, "sum is 4999950000")

			victim := pool.Stats().Workers[0].Pid
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			for i := 0; i < 30; i++ {
				code, body, err := fetch(srv.URL + "/")
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, code, "request %d: %s\n%s", i, body, logs.String())
				assert.NotContains(t, body, fmt.Sprintf("worker %d:", victim))
			}
			deadline := time.Now().Add(10 * time.Second)
			for pool.Stats().Workers[0].Restarts != 1 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			assert.Equal(t, 1, pool.Stats().Workers[0].Restarts)
			assert.Contains(t, logs.String(), "serves /", "workers' prints reach the log")

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, pool.Shutdown(ctx))
		})
	}
}
