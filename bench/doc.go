// Package bench is the pure logic of polyfork's benchmark harness: the catalog
// of systems, the settings every driver takes, the trials drivers print, percentiles and
// medians, the interleaved schedule, the judged goals and the Markdown report.
//
// Nothing here measures: the runner (bench/cmd/benchrun) starts one driver process per
// system and round, pinned with taskset where the catalog says so, reads the Trial it
// prints as JSON, and hands the trials to Aggregate. The drivers are written in the
// language each system is used from: Go (bench/driver: polyfork, pools, bare exchanges),
// C (bench/children/raw_echo.c: the raw pipe limit), Node (bench/peers/node_fork.js) and
// Python (bench/peers/python_mp.py). So this package can be tested without a process.
package bench
