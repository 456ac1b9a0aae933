package daemon

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/setlet/setlet/configs"
)

// TestQueuePing: a ping is answered by the worker that next calls get,
// after the keys queued before it, and never while the only worker holds a
// key (a wedged loop).
func TestQueuePing(t *testing.T) {
	q := newQueue(newFakeClock(time.Unix(0, 0)))
	q.add("default/a")
	pinged := make(chan struct{}, 1)
	q.ping(func() { pinged <- struct{}{} })

	key, ok := q.get()
	if !ok || key != "default/a" {
		t.Fatalf("get = %q, %v; want the key queued before the ping", key, ok)
	}
	select {
	case <-pinged:
		t.Fatal("the ping was answered while the worker held default/a")
	default:
	}
	q.add("default/b")
	q.done(key)
	if key, ok = q.get(); !ok || key != "default/b" {
		t.Fatalf("get = %q, %v; want default/b, the ping being no key of its own", key, ok)
	}
	select {
	case <-pinged:
	default:
		t.Fatal("the ping was not answered by the get that passed it")
	}
	q.done(key)
	q.close()
	q.ping(func() { t.Error("a closed queue answered a ping") })
	if _, ok := q.get(); ok {
		t.Error("get after close succeeded")
	}
}

// loopStub is a reconcile loop for the watchdog: it hands each ping to the
// test, which answers it (or not), until ctx ends.
type loopStub struct {
	ctx context.Context
	ch  chan func()
}

func (l loopStub) ping(fn func()) {
	select {
	case l.ch <- fn:
	case <-l.ctx.Done():
	}
}

// TestWatchdog: WATCHDOG=1 is sent only once every loop has answered the
// round's ping.
func TestWatchdog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notified := make(chan string, 4)
	a, b := loopStub{ctx, make(chan func())}, loopStub{ctx, make(chan func())}
	go runWatchdog(ctx, 20*time.Millisecond, func(s string) { notified <- s }, a, b)

	answerA, answerB := <-a.ch, <-b.ch
	answerA()
	select {
	case s := <-notified:
		t.Fatalf("notified %q while loop b had not answered", s)
	default:
	}
	answerB()
	if s := <-notified; s != "WATCHDOG=1" {
		t.Fatalf("notified %q, want WATCHDOG=1", s)
	}
	// The next round: a wedged loop b never answers, and nothing is sent.
	(<-a.ch)()
	<-b.ch
	select {
	case s := <-notified:
		t.Fatalf("notified %q while loop b was wedged", s)
	default:
	}
}

func TestChangedFields(t *testing.T) {
	base := configs.DefaultDaemonConfig()
	base.Complete()
	for _, tc := range []struct {
		name   string
		change func(*configs.DaemonConfig)
		want   []string
	}{
		{"nothing", func(*configs.DaemonConfig) {}, nil},
		{"a string", func(c *configs.DaemonConfig) { c.Bridge = "other0" }, []string{"bridge"}},
		{"a list and a duration", func(c *configs.DaemonConfig) {
			c.DNSUpstreams = []string{"192.0.2.1"}
			c.DNSTTL = configs.Duration{Duration: time.Minute}
		}, []string{"dnsUpstreams", "dnsTTL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.DNSUpstreams = append([]string(nil), base.DNSUpstreams...)
			tc.change(&c)
			if got := changedFields(base, c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("changedFields = %v, want %v", got, tc.want)
			}
		})
	}
}
