package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// hostileTimeout bounds one hostile exchange; past it the request counts as hung. Slow
// requests and flooded connections wait behind -max-conns, hence the margin.
const hostileTimeout = 90 * time.Second

// expectation is what serve must answer to a hostile request: a status and an error type
// (for an answer from Go's HTTP server itself rather than from serve's handlers, "text: "
// and its plain-text body), or (status 0) closing the connection without an answer, as
// Go's HTTP server does to a connection that sends nothing in time.
type expectation struct {
	status int
	typ    string
	result string // the body of a 200
}

var (
	closedNoAnswer = expectation{0, "closed without an answer", ""}
	// Go's HTTP server answers headers cut short by -read-header-timeout with a plain 400.
	headersTimedOut = expectation{http.StatusBadRequest, "text: 400 Bad Request", ""}
)

// hostile is one hostile request: the bytes of its head, a function writing its body (it
// may dawdle), and what must come back.
type hostile struct {
	kind string
	head string
	body func(w io.Writer) error
	want expectation
}

func request(path string, headers ...string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: soak\r\n" + strings.Join(headers, "") + "\r\n"
}

func contentLength(n int) string { return "Content-Length: " + strconv.Itoa(n) + "\r\n" }

func fixedBody(b string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, b); return err }
}

func withBody(kind, path, body string, want expectation) hostile {
	return hostile{kind: kind, head: request(path, contentLength(len(body))), body: fixedBody(body), want: want}
}

// fastHostile returns a hostile request that serve answers at once: a bad method name or a
// body past one of its limits. None of them may reach a worker.
func fastHostile(c config, rng *rand.Rand) hostile {
	badRequest := expectation{http.StatusBadRequest, "BadRequest", ""}
	badMethod := expectation{http.StatusBadRequest, "BadMethod", ""}
	tooLarge := expectation{http.StatusRequestEntityTooLarge, "BodyTooLarge", ""}
	switch rng.IntN(8) {
	case 0:
		return withBody("method not UTF-8 (/call/%FF)", "/call/%FF", "[]", badMethod)
	case 1:
		return withBody("method reserved (/call/$stop)", "/call/%24stop", "[]", badMethod)
	case 2:
		return withBody("body nested 129 deep", "/call/echo", strings.Repeat("[", 129)+strings.Repeat("]", 129), badRequest)
	case 3:
		bad := []string{"[1, 2", "[1,,2]", "[nul]", `{"params": [1]}`, "[1] [2]", "\x00\x01\x02", "[1e999]", "]["}
		return withBody("invalid JSON", "/call/echo", bad[rng.IntN(len(bad))], badRequest)
	case 4:
		return withBody("body not UTF-8", "/call/echo", "[\"\xff\xfe\"]", badRequest)
	case 5:
		return withBody("more values than -max-values", "/call/echo", "["+strings.Repeat("0,", c.maxValues)+"0]", badRequest)
	case 6:
		// Declared too large: refused on its header, before a byte of it is read.
		n := c.maxBody + 1 + rng.IntN(c.maxBody)
		return hostile{kind: "body over -max-body (declared)", head: request("/call/echo", contentLength(n)),
			body: fixedBody(`["` + strings.Repeat("x", 1000)), want: tooLarge}
	default:
		// Chunked, so its size shows only as it arrives: cut at the limit.
		return hostile{kind: "body over -max-body (chunked)", head: request("/call/echo", "Transfer-Encoding: chunked\r\n"),
			body: func(w io.Writer) error {
				piece := strings.Repeat("y", 16<<10)
				if _, err := fmt.Fprintf(w, "2\r\n[\"\r\n"); err != nil {
					return err
				}
				for sent := 0; sent <= c.maxBody+(64<<10); sent += len(piece) {
					if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", len(piece), piece); err != nil {
						return err
					}
				}
				_, err := io.WriteString(w, "2\r\n\"]\r\n0\r\n\r\n")
				return err
			}, want: tooLarge}
	}
}

// slowHostiles are the requests that take their time: a body that arrives in pieces but
// within -body-timeout (it must be answered normally), a body that stops halfway (408),
// and headers that stop halfway (closed at -read-header-timeout).
func slowHostiles(c config) []hostile {
	body := `["a slow but honest body"]`
	return []hostile{
		{kind: "slow body, in time", head: request("/call/echo", contentLength(len(body))),
			body: func(w io.Writer) error {
				pause := c.bodyTimeout / time.Duration(4*len(body)) // a quarter of the time allowed
				for i := 0; i < len(body); i++ {
					if _, err := w.Write([]byte{body[i]}); err != nil {
						return err
					}
					time.Sleep(pause)
				}
				return nil
			}, want: expectation{http.StatusOK, "", `"a slow but honest body"`}},
		{kind: "slow body, stalled", head: request("/call/echo", contentLength(100)), body: fixedBody("[1, 2, "),
			want: expectation{http.StatusRequestTimeout, "BodyTimeout", ""}},
		{kind: "slow headers, stalled", head: "POST /call/echo HTTP/1.1\r\nHost: soak\r\nContent-Le",
			want: headersTimedOut},
	}
}

// floodHostiles are the kinds of connection a flood opens: silent ones, and ones that
// stall in their headers or their body.
func floodHostiles() []hostile {
	return []hostile{
		{kind: "flood: silent connection", want: closedNoAnswer},
		{kind: "flood: stalled headers", head: "POST /call/echo HTTP/1.1\r\nHo", want: headersTimedOut},
		{kind: "flood: stalled body", head: request("/call/echo", contentLength(50)), body: fixedBody("[1, "),
			want: expectation{http.StatusRequestTimeout, "BodyTimeout", ""}},
	}
}

// exchange sends h on a connection of its own, writing the body while it reads the
// answer (serve may answer before the body is all sent), and returns its outcome.
func exchange(s *server, h hostile) (outcome, string) {
	o := outcome{Traffic: "hostile", Kind: h.kind, Lang: s.lang}
	conn, err := net.DialTimeout("tcp", s.addr, hostileTimeout)
	if err != nil {
		o.Verdict, o.Type = lost, "cannot connect"
		return o, err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(hostileTimeout))
	go func() {
		if _, err := io.WriteString(conn, h.head); err == nil && h.body != nil {
			_ = h.body(conn) // fails once serve has answered and closed: expected
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
			o.Verdict, o.Type = lost, "no answer within "+hostileTimeout.String()
		case h.want == closedNoAnswer && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			o.Type, o.Verdict = closedNoAnswer.typ, refused
		default:
			o.Verdict, o.Type = lost, "transport error"
		}
		return o, err.Error()
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	o.Status = resp.StatusCode
	var e apiError
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &e); err != nil {
			e.Error.Type = "text: " + clip(strings.TrimSpace(string(raw)), 40)
		}
	}
	o.Type = e.Error.Type
	if o.Status == h.want.status && o.Type == h.want.typ && (o.Status != http.StatusOK || strings.TrimSpace(string(raw)) == h.want.result) {
		o.Verdict = refused
		if h.want.status == http.StatusOK {
			o.Verdict = answered
		}
		return o, ""
	}
	o.Verdict = unexpected
	if h.want.status == http.StatusOK && s.killExplains(o.Status, o.Type, e.Error.Message) {
		o.Verdict = explained // a request that reached a pool meets the kills like any call
	}
	return o, fmt.Sprintf("want %d %s, got %d: %s", h.want.status, h.want.typ, resp.StatusCode, raw)
}
