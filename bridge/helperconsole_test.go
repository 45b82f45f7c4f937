package bridge

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/polyfork/polyfork/protocol"
	"golang.org/x/term"
)

// moreHelperModes are helper child modes defined beside the tests that use them.
var moreHelperModes = map[string]func(args []string){
	"console": consoleHelper,
}

// consoleHelper serves, on the channel of POLYFORK_CHANNEL_FDS, what the console tests ask
// of a child's stdin, stdout and stderr.
func consoleHelper([]string) {
	var r, w int
	if _, err := fmt.Sscanf(os.Getenv(protocol.EnvChannelFDs), "%d,%d", &r, &w); err != nil {
		fmt.Fprintln(os.Stderr, "no channel descriptors:", err)
		os.Exit(2)
	}
	stdin := bufio.NewReader(os.Stdin)
	stop := make(chan struct{}, 1)
	h := map[string]Handler{
		"echo": func(ctx context.Context, a Args) (any, error) { return a.Value(0) },
		"isatty": func(ctx context.Context, a Args) (any, error) {
			return []bool{term.IsTerminal(0), term.IsTerminal(1), term.IsTerminal(2)}, nil
		},
		"print": func(ctx context.Context, a Args) (any, error) { // raw bytes to stdout
			var s string
			_ = a.Decode(&s)
			_, err := os.Stdout.WriteString(s)
			return true, err
		},
		"readline": func(ctx context.Context, a Args) (any, error) { // a prompt, then a line
			var prompt string
			_ = a.Decode(&prompt)
			fmt.Print(prompt)
			line, err := stdin.ReadString('\n')
			if err != nil {
				return nil, err
			}
			return line[:len(line)-1], nil
		},
		"winsize": func(ctx context.Context, a Args) (any, error) {
			cols, rows, err := term.GetSize(0)
			return []int{cols, rows}, err
		},
		"wait_signal": func(ctx context.Context, a Args) (any, error) { // never reads its terminal
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGINT, syscall.SIGQUIT)
			defer signal.Stop(ch)
			fmt.Println("waiting for a signal")
			return (<-ch).String(), nil
		},
		"interrupted_reads": func(ctx context.Context, a Args) (any, error) { // after SIGINT, reads up to "after"
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGINT)
			defer signal.Stop(ch)
			fmt.Println("waiting for a signal")
			<-ch
			before := 0 // bytes read before the line "after"
			for {
				line, err := stdin.ReadString('\n')
				if err != nil {
					return nil, err
				}
				if strings.HasSuffix(line, "after\n") { // (a line cut by the drop runs into it)
					return before + len(line) - len("after\n"), nil
				}
				before += len(line)
			}
		},
		"wait_sigint": func(ctx context.Context, a Args) (any, error) {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGINT)
			defer signal.Stop(ch)
			fmt.Println("waiting for SIGINT")
			<-ch
			return "interrupted", nil
		},
		"close_stdio": func(ctx context.Context, a Args) (any, error) { // descriptors 0 to 2
			for fd := 0; fd <= 2; fd++ {
				if err := syscall.Close(fd); err != nil {
					return nil, err
				}
			}
			return true, nil
		},
		"tty_print": func(ctx context.Context, a Args) (any, error) { // to /dev/tty, opened anew
			var s string
			_ = a.Decode(&s)
			f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			_, err = f.WriteString(s)
			return true, err
		},
		"exit": func(ctx context.Context, a Args) (any, error) {
			var code int
			_ = a.Decode(&code)
			fmt.Fprintf(os.Stderr, "exiting with %d on request\n", code)
			os.Exit(code)
			return nil, nil
		},
	}
	opts := []Option{WithChildRole(ReadyInfo{Lang: "go-test", Lib: "helperconsole"}, func() { stop <- struct{}{} })}
	for name, fn := range h {
		opts = append(opts, WithHandler(name, fn))
	}
	conn, err := NewConn(os.NewFile(uintptr(r), "in"), os.NewFile(uintptr(w), "out"), opts...)
	if err != nil {
		panic(err)
	}
	select {
	case <-stop:
		_ = conn.Drain(context.Background())
		_ = conn.Flush(context.Background())
		conn.Close()
	case <-conn.Done():
	}
	os.Exit(0)
}
