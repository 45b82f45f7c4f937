// Command gochild is README.md's Go child: it answers "add" and sends back every message.
// README.md quotes the region between "readme:start" and "readme:end" exactly;
// ../main_test.go runs it as a child.
package main

import (
	"context"
	"log"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/bridge/child"
)

func main() {
	// readme:start child
	child.Handle("add", func(ctx context.Context, a bridge.Args) (any, error) {
		var x, y int
		err := a.Decode(&x, &y)
		return x + y, err
	})
	child.OnMessage(func(v any) { child.Send(context.Background(), v) })
	if err := child.Run(); err != nil { // until the host says $stop or closes the channel
		log.Fatal(err)
	}
	// readme:end
}
