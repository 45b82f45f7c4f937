package main

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/polyfork/polyfork/bridge"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// What polyfork serve and polyfork cluster both show about their pool: GET /healthz,
// GET /workers and GET /metrics.

// handlePoolViews registers /healthz, /workers and /metrics for pool on mux; extra are
// more collectors for /metrics (serve's call counters).
func handlePoolViews(mux *http.ServeMux, pool *bridge.Pool, extra ...prometheus.Collector) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(extra...)
	reg.MustRegister(poolCollector{pool},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { healthz(w, pool) })
	mux.HandleFunc("GET /workers", func(w http.ResponseWriter, r *http.Request) { workers(w, pool) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// healthz answers 200 while a worker is ready, else 503, with the pool's summary.
func healthz(w http.ResponseWriter, pool *bridge.Pool) {
	st := pool.Stats()
	code := http.StatusOK
	if st.Ready == 0 {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ready": st.Ready, "workers": len(st.Workers), "queued": st.Queued,
		"crash_looping": st.CrashLooping, "last_failure": st.LastFailure,
	})
}

// workersView is what /workers answers: the pool's stats, and its listening sockets when
// it has some.
type workersView struct {
	bridge.PoolStats
	Listeners []bridge.ListenSocket `json:"listeners,omitempty"`
}

func workers(w http.ResponseWriter, pool *bridge.Pool) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(workersView{PoolStats: pool.Stats(), Listeners: pool.ListenSockets()})
}

// poolCollector reads the pool's stats at scrape time.
type poolCollector struct{ pool *bridge.Pool }

var (
	descReady    = prometheus.NewDesc("polyfork_workers_ready", "Workers ready to take calls.", nil, nil)
	descQueued   = prometheus.NewDesc("polyfork_queue_length", "Calls waiting for a free worker.", nil, nil)
	descLooping  = prometheus.NewDesc("polyfork_crash_looping", "1 while the pool is crash-looping.", nil, nil)
	descRestarts = prometheus.NewDesc("polyfork_worker_restarts_total", "Unexpected worker exits that were replaced.", []string{"worker"}, nil)
	descJobs     = prometheus.NewDesc("polyfork_worker_jobs_done", "Calls done by the worker's current process.", []string{"worker"}, nil)
	descInFlight = prometheus.NewDesc("polyfork_worker_in_flight", "Calls running on the worker.", []string{"worker"}, nil)
	descRSS      = prometheus.NewDesc("polyfork_worker_rss_bytes", "Resident memory of the worker's process.", []string{"worker"}, nil)
	descUp       = prometheus.NewDesc("polyfork_worker_uptime_seconds", "How long the worker's current process has run.", []string{"worker"}, nil)
	descLQueued  = prometheus.NewDesc("polyfork_listen_queue_length", "Connections the kernel accepted that no worker has taken yet (Linux, TCP).", []string{"socket"}, nil)
	descLBacklog = prometheus.NewDesc("polyfork_listen_backlog", "Connections the kernel queues on the socket before it stops answering new ones (Linux, TCP).", []string{"socket"}, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReady, descQueued, descLooping, descRestarts, descJobs, descInFlight, descRSS, descUp, descLQueued, descLBacklog} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stats()
	looping := 0.0
	if st.CrashLooping {
		looping = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, float64(st.Ready))
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(descLooping, prometheus.GaugeValue, looping)
	for _, w := range st.Workers {
		i := strconv.Itoa(w.Index)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(w.Restarts), i)
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(w.JobsDone), i)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(w.InFlight), i)
		ch <- prometheus.MustNewConstMetric(descRSS, prometheus.GaugeValue, float64(w.RSS), i)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, w.Uptime.Seconds(), i)
	}
	for _, s := range c.pool.ListenSockets() {
		if s.Queued < 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descLQueued, prometheus.GaugeValue, float64(s.Queued), s.Name)
		ch <- prometheus.MustNewConstMetric(descLBacklog, prometheus.GaugeValue, float64(s.Backlog), s.Name)
	}
}
