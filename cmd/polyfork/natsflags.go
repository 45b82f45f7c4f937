package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/remote"
)

// natsFlags are the flags that reach workers through NATS (package remote): where the NATS
// server is, which service, and the credentials and TLS files of the connection. call,
// serve, agent and agents take them.
type natsFlags struct {
	url     string
	service string
	creds   string
	nkey    string
	tlsCA   string
	tlsCert string
	tlsKey  string
}

// add registers the flags on fs.
func (f *natsFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "nats", "", "NATS server URL(s), comma-separated, such as nats://127.0.0.1:4222")
	fs.StringVar(&f.service, "service", "", "the service name of the agents (letters, digits, '-' and '_')")
	fs.StringVar(&f.creds, "creds", "", "NATS credentials file (JWT and nkey seed)")
	fs.StringVar(&f.nkey, "nkey", "", "NATS nkey seed file")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "CA certificate file that the NATS server's certificate must chain to")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "client certificate file for NATS (with -tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "client key file for NATS (with -tls-cert)")
}

// check reports flags that do not go together.
func (f *natsFlags) check(serviceRequired bool) error {
	var errs []error
	if serviceRequired && f.service == "" {
		errs = append(errs, errors.New("-service NAME is required"))
	}
	if f.service != "" {
		if err := remote.CheckServiceName(f.service); err != nil {
			errs = append(errs, fmt.Errorf("-service: %s", strings.TrimPrefix(err.Error(), "remote: ")))
		}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	if f.creds != "" && f.nkey != "" {
		errs = append(errs, errors.New("-creds and -nkey are two ways to authenticate: give one"))
	}
	return errors.Join(errs...)
}

// natsPingInterval is how often the commands' NATS connections ping their server.
const natsPingInterval = 5 * time.Second

// connect opens the NATS connection: it reconnects for ever (calls in flight when it drops
// fail with a reason; see package remote), and logs its state changes to logs.
func (f *natsFlags) connect(name string, logs io.Writer) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// A connection that silently stops passing anything (a partition, a NAT or
		// firewall that lost its state) is left within about 15 s, then connected again.
		// With nats.go's default pings (2 min, two unanswered) an agent so cut off was
		// gone from its service for about 6 minutes after the server had dropped it.
		nats.PingInterval(natsPingInterval),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				fmt.Fprintf(logs, "%s: NATS connection lost: %v\n", name, err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			fmt.Fprintf(logs, "%s: NATS connection back (%s)\n", name, nc.ConnectedUrlRedacted())
		}),
	}
	if f.creds != "" {
		opts = append(opts, nats.UserCredentials(f.creds))
	}
	if f.nkey != "" {
		o, err := nats.NkeyOptionFromSeed(f.nkey)
		if err != nil {
			return nil, fmt.Errorf("-nkey %s: %w", f.nkey, err)
		}
		opts = append(opts, o)
	}
	if f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(f.tlsCA))
	}
	if f.tlsCert != "" {
		opts = append(opts, nats.ClientCert(f.tlsCert, f.tlsKey))
	}
	dialer := &recordingDialer{d: net.Dialer{Timeout: nats.DefaultTimeout}}
	opts = append(opts, nats.SetCustomDialer(dialer))
	nc, err := nats.Connect(f.url, opts...)
	if err != nil {
		if last := dialer.lastError(); last != nil && errors.Is(err, nats.ErrNoServers) {
			// nats.go says only "no servers available for connection": say why.
			return nil, fmt.Errorf("connecting to NATS at %s: %w (%v)", redact(f.url), err, last)
		}
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redact(f.url), err)
	}
	return nc, nil
}

// recordingDialer dials as nats.go does and remembers the last error, which nats.go
// replaces with nats.ErrNoServers once every server of the URL failed.
type recordingDialer struct {
	d    net.Dialer
	mu   sync.Mutex
	last error
}

func (r *recordingDialer) Dial(network, address string) (net.Conn, error) {
	c, err := r.d.Dial(network, address)
	if err != nil {
		r.mu.Lock()
		r.last = err
		r.mu.Unlock()
	}
	return c, err
}

func (r *recordingDialer) lastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// redact hides the passwords and tokens of NATS URLs, for messages.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				parts[i] = u[:s+3] + "***" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// usesNATS reports whether args (before any "--") ask for -nats: then call and serve reach
// workers through NATS instead of starting them.
func usesNATS(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name := strings.TrimLeft(a, "-")
		if len(name) < len(a) && (name == "nats" || strings.HasPrefix(name, "nats=")) {
			return true
		}
	}
	return false
}
