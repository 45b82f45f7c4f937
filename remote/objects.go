package remote

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// headerRoom is what a body leaves of the NATS maximum payload for headers.
const headerRoom = 1024

// defaultChunk is the largest chunk a body is cut into in the object store (the store's
// own default).
const defaultChunk = 128 << 10

// objectTTL is how long a large body stays in the object store if nobody deletes it (a
// caller that gave up before fetching its result).
const objectTTL = 15 * time.Minute

// objects is a service's JetStream object store bucket, where bodies above the NATS
// maximum payload travel: the sender puts the body there under a fresh name and sends the
// name in HeaderObject; the caller deletes its params when the call is over and the result
// once it has read it. The bucket is created on first use.
type objects struct {
	nc     *nats.Conn
	bucket string

	mu    sync.Mutex
	store jetstream.ObjectStore

	// max is the server's maximum payload as last read by remember, or 0: then it is read
	// from the connection each time. A remote pool remembers it, since reading it takes the
	// connection's lock, which a publish on a stalled connection holds for up to its
	// FlusherTimeout: a call must not wait there, past its deadline, before it is sent.
	max atomic.Int64
}

// remember reads the server's maximum payload now, for fits and limit to use until the
// next remember.
func (o *objects) remember() { o.max.Store(o.nc.MaxPayload()) }

func newObjects(nc *nats.Conn, service string) *objects {
	return &objects{nc: nc, bucket: bucketName(service)}
}

// fits reports whether a body of n bytes can travel as a NATS message.
func (o *objects) fits(n int) bool {
	return int64(n) <= o.limit()-headerRoom
}

// limit returns the server's maximum payload, for errors.
func (o *objects) limit() int64 {
	if n := o.max.Load(); n > 0 {
		return n
	}
	return o.nc.MaxPayload()
}

// open returns the bucket, creating it if needed.
func (o *objects) open(ctx context.Context) (jetstream.ObjectStore, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store != nil {
		return o.store, nil
	}
	js, err := jetstream.New(o.nc)
	if err != nil {
		return nil, err
	}
	s, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      o.bucket,
		Description: "polyfork: bodies above the NATS maximum payload",
		TTL:         objectTTL,
		Storage:     jetstream.MemoryStorage,
	})
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return nil, errors.New("JetStream is not enabled on the NATS server")
	}
	if err != nil {
		return nil, err
	}
	o.store = s
	return s, nil
}

// put stores body under a fresh name and returns the name.
func (o *objects) put(ctx context.Context, body []byte) (string, error) {
	s, err := o.open(ctx)
	if err != nil {
		return "", err
	}
	name := nuid.Next()
	// The store sends a body in chunks of 128 KiB unless told otherwise: under a smaller
	// maximum payload every chunk was refused, so the bodies the store is for never fitted.
	limit := o.limit()
	chunk := uint32(min(defaultChunk, max(limit-headerRoom, limit/2)))
	meta := jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunk}}
	if _, err := s.Put(ctx, meta, bytes.NewReader(body)); err != nil {
		return "", err
	}
	return name, nil
}

// get reads the object name.
func (o *objects) get(ctx context.Context, name string) ([]byte, error) {
	s, err := o.open(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetBytes(ctx, name)
}

// remove deletes the object name; the bucket's TTL removes what a failed delete leaves.
func (o *objects) remove(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s, err := o.open(ctx); err == nil {
		_ = s.Delete(ctx, name)
	}
}
