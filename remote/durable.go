package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/vmihailenco/msgpack/v5"
)

// ensureStream creates the service's work-queue stream of durable sends, or returns it if
// it exists. Callers and agents both call it, with the same configuration.
func ensureStream(ctx context.Context, js jetstream.JetStream, service string) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:        streamName(service),
		Description: "polyfork: durable sends to the workers of " + service,
		Subjects:    []string{subjectsOf(service).durable},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
	}
	s, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	s, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.Stream(ctx, cfg.Name) // another caller or agent created it first
	}
	return s, err
}

// durableLoop takes durable messages from the service's stream, as many at once as the
// agent takes calls, and hands each to a worker.
type durableLoop struct {
	a    *Agent
	iter jetstream.MessagesContext
	slot chan struct{} // one token per message being handled
	wg   sync.WaitGroup
	once sync.Once

	done, redelivered, terminated atomic.Int64
}

func startDurable(ctx context.Context, a *Agent) (*durableLoop, error) {
	js, err := jetstream.New(a.nc)
	if err != nil {
		return nil, err
	}
	stream, err := ensureStream(ctx, js, a.service)
	if err != nil {
		return nil, fmt.Errorf("the durable stream %s: %w", streamName(a.service), err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       durableConsumer,
		Description:   "polyfork agents of " + a.service,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       a.cfg.ackWait,
		FilterSubject: a.subj.durable,
	})
	if err != nil {
		return nil, fmt.Errorf("the durable consumer %s of %s: %w", durableConsumer, streamName(a.service), err)
	}
	n := int(a.max.Load())
	iter, err := cons.Messages(jetstream.PullMaxMessages(n))
	if err != nil {
		return nil, err
	}
	d := &durableLoop{a: a, iter: iter, slot: make(chan struct{}, n)}
	d.wg.Add(1)
	go d.run()
	return d, nil
}

func (d *durableLoop) run() {
	defer d.wg.Done()
	for {
		d.slot <- struct{}{}
		msg, err := d.iter.Next()
		if err != nil {
			<-d.slot
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			d.a.log.Warn("polyfork: remote: taking durable messages", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		d.wg.Add(1)
		go func() {
			defer func() {
				<-d.slot
				d.wg.Done()
			}()
			d.handle(msg)
		}()
	}
}

// handle hands one durable message to a worker and acknowledges it, or hands it back.
func (d *durableLoop) handle(msg jetstream.Msg) {
	a := d.a
	m, err := protocol.DecodeMessage(msg.Data(), a.cfg.maxValues)
	if err == nil && m.Kind != protocol.KindNotification {
		err = fmt.Errorf("want a notification [2, method, params], got a %s", m.Kind)
	}
	var items [][]byte
	if err == nil {
		items, err = protocol.SplitArray(m.Params)
	}
	if err != nil {
		a.log.Error("polyfork: remote: terminated a durable message that is not a notification", "err", err)
		d.terminated.Add(1)
		_ = msg.Term()
		return
	}
	ctx, cancel := context.WithCancel(a.base)
	defer cancel()
	if a.cfg.durableCall == "" {
		err = a.deliver(ctx, m.Method, items)
	} else {
		stop := d.inProgress(msg)
		err = a.pool.Load().Call(ctx, a.cfg.durableCall, msgpack.RawMessage(m.Params), nil)
		stop()
	}
	var re *bridge.RemoteError
	switch {
	case err == nil:
		d.done.Add(1)
		_ = msg.Ack()
	case errors.As(err, &re) && !errors.Is(err, bridge.ErrStopping):
		a.log.Error("polyfork: remote: a durable message's call raised; it is not redelivered",
			"method", a.cfg.durableCall, "type", re.Type, "message", re.Message)
		a.setLastError(fmt.Sprintf("durable %q raised %s: %s", a.cfg.durableCall, re.Type, re.Message))
		d.terminated.Add(1)
		_ = msg.Term()
	default:
		a.log.Warn("polyfork: remote: a durable message goes back to the stream", "err", err)
		d.redelivered.Add(1)
		_ = msg.NakWithDelay(time.Second)
	}
}

// inProgress tells the stream every third of the ack wait that msg is still being handled.
func (d *durableLoop) inProgress(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	every := d.a.cfg.ackWait / 3
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// stop stops taking messages and waits for those being handled.
func (d *durableLoop) stop() {
	d.once.Do(func() {
		d.iter.Stop()
		d.wg.Wait()
	})
}

func (d *durableLoop) stats() DurableStats {
	return DurableStats{Done: d.done.Load(), Redelivered: d.redelivered.Load(), Terminated: d.terminated.Load()}
}
