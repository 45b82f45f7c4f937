package main

import (
	"strconv"

	"github.com/polyfork/polyfork/bridge"
	"github.com/prometheus/client_golang/prometheus"
)

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
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReady, descQueued, descLooping, descRestarts, descJobs, descInFlight, descRSS} {
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
	}
}

// gatewayCollector reads the HTTP side's gauges at scrape time.
type gatewayCollector struct{ g *gateway }

var (
	descConns      = prometheus.NewDesc("polyfork_http_connections", "Open HTTP connections (at most -max-conns).", nil, nil)
	descBodyBudget = prometheus.NewDesc("polyfork_body_bytes_in_flight", "Bytes of request bodies over 64 KiB held, from reading to answer (at most -max-body-inflight).", nil, nil)
	descResults    = prometheus.NewDesc("polyfork_result_bytes_in_flight", "Bytes of results over 64 KiB held until their client has read them (at most -max-result-inflight).", nil, nil)
	descEvicted    = prometheus.NewDesc("polyfork_http_connections_evicted_total", "Connections doing nothing (kept alive between requests, or yet to send one) closed to make room for a new client at -max-conns.", nil, nil)
	descArriving   = prometheus.NewDesc("polyfork_http_bodies_arriving", "Requests whose body is still arriving (or waiting for room to be read).", nil, nil)
)

func (c gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConns
	ch <- descBodyBudget
	ch <- descResults
	ch <- descEvicted
	ch <- descArriving
}

func (c gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(c.g.conns.openConns()))
	ch <- prometheus.MustNewConstMetric(descBodyBudget, prometheus.GaugeValue, float64(c.g.budget.inUse()))
	ch <- prometheus.MustNewConstMetric(descResults, prometheus.GaugeValue, float64(c.g.results.inUse()))
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(c.g.conns.evictions()))
	ch <- prometheus.MustNewConstMetric(descArriving, prometheus.GaugeValue, float64(c.g.conns.arrivingBodies()))
}
