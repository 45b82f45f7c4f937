package main

import (
	"net/http"

	"github.com/polyfork/polyfork/bridge"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handleClusterAdmin registers polyfork cluster's admin views of pool on mux: what serve
// shows of its pool (localBackend, backend.go: /healthz and the pool's metrics), plus the
// listening sockets in /workers and their accept queues in /metrics.
func handleClusterAdmin(mux *http.ServeMux, pool *bridge.Pool) {
	b := localBackend{pool: pool}
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.collector(), listenCollector{pool},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, body := b.health(r.Context())
		// A socket that stopped listening (a worker shut it down) refuses every new
		// connection, however many workers run.
		if down := notListening(pool); len(down) > 0 {
			ok = false
			if m, isMap := body.(map[string]any); isMap {
				m["not_listening"] = down
			}
		}
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSONResponse(w, code, body, false)
	})
	mux.HandleFunc("GET /workers", func(w http.ResponseWriter, r *http.Request) {
		writeJSONResponse(w, http.StatusOK, clusterStatus{PoolStats: pool.Stats(), Listeners: pool.ListenSockets()}, true)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// notListening returns the addresses of the pool's sockets that no longer listen.
func notListening(pool *bridge.Pool) []string {
	var out []string
	for _, s := range pool.ListenSockets() {
		if !s.Listening {
			out = append(out, s.Address)
		}
	}
	return out
}

// clusterStatus is what /workers answers: the pool's stats and its listening sockets.
type clusterStatus struct {
	bridge.PoolStats
	Listeners []bridge.ListenSocket `json:"listeners"`
}

// listenCollector reads the accept queues of the pool's listening sockets at scrape time.
type listenCollector struct{ pool *bridge.Pool }

var (
	descListenQueued  = prometheus.NewDesc("polyfork_listen_queue_length", "Connections the kernel accepted on the socket that no worker has taken yet (Linux, TCP).", []string{"socket"}, nil)
	descListenBacklog = prometheus.NewDesc("polyfork_listen_backlog", "Connections the kernel queues on the socket before it stops answering new ones (Linux, TCP).", []string{"socket"}, nil)
	descListenUp      = prometheus.NewDesc("polyfork_listen_up", "1 while the socket listens; 0 once a worker has shut it down (new connections are refused).", []string{"socket", "address"}, nil)
)

func (c listenCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descListenQueued
	ch <- descListenBacklog
	ch <- descListenUp
}

func (c listenCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.pool.ListenSockets() {
		up := 0.0
		if s.Listening {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descListenUp, prometheus.GaugeValue, up, s.Name, s.Address)
		if s.Queued < 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descListenQueued, prometheus.GaugeValue, float64(s.Queued), s.Name)
		ch <- prometheus.MustNewConstMetric(descListenBacklog, prometheus.GaugeValue, float64(s.Backlog), s.Name)
	}
}
