package main

import (
	"net/http"

	"github.com/polyfork/polyfork/bridge"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// What polyfork serve and polyfork cluster both show about their pool: GET /healthz,
// GET /workers and GET /metrics (the pool's collector is in metrics.go).

// handlePoolViews registers cluster's /healthz, /workers and /metrics for pool on mux.
func handlePoolViews(mux *http.ServeMux, pool *bridge.Pool) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(poolCollector{pool}, listenCollector{pool},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeHealth(w, pool) })
	mux.HandleFunc("GET /workers", func(w http.ResponseWriter, r *http.Request) { writeWorkers(w, pool) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// writeHealth answers 200 while a worker is ready, else 503, with the pool's summary.
func writeHealth(w http.ResponseWriter, pool *bridge.Pool) {
	st := pool.Stats()
	code := http.StatusOK
	if st.Ready == 0 {
		code = http.StatusServiceUnavailable
	}
	writeJSONResponse(w, code, map[string]any{
		"ready": st.Ready, "workers": len(st.Workers), "queued": st.Queued,
		"crash_looping": st.CrashLooping, "last_failure": st.LastFailure,
	}, false)
}

// workersView is what /workers answers: the pool's stats, and its listening sockets when
// it has some.
type workersView struct {
	bridge.PoolStats
	Listeners []bridge.ListenSocket `json:"listeners,omitempty"`
}

// writeWorkers answers the pool's stats as JSON.
func writeWorkers(w http.ResponseWriter, pool *bridge.Pool) {
	writeJSONResponse(w, http.StatusOK, workersView{PoolStats: pool.Stats(), Listeners: pool.ListenSockets()}, true)
}

// listenCollector reads the accept queues of the pool's listening sockets at scrape time.
type listenCollector struct{ pool *bridge.Pool }

var (
	descListenQueued  = prometheus.NewDesc("polyfork_listen_queue_length", "Connections the kernel accepted on the socket that no worker has taken yet (Linux, TCP).", []string{"socket"}, nil)
	descListenBacklog = prometheus.NewDesc("polyfork_listen_backlog", "Connections the kernel queues on the socket before it stops answering new ones (Linux, TCP).", []string{"socket"}, nil)
)

func (c listenCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descListenQueued
	ch <- descListenBacklog
}

func (c listenCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.pool.ListenSockets() {
		if s.Queued < 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descListenQueued, prometheus.GaugeValue, float64(s.Queued), s.Name)
		ch <- prometheus.MustNewConstMetric(descListenBacklog, prometheus.GaugeValue, float64(s.Backlog), s.Name)
	}
}
