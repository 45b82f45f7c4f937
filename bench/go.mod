module github.com/polyfork/polyfork/bench

go 1.26.0

require (
	github.com/polyfork/polyfork v0.0.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
)

require (
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/polyfork/polyfork => ../
