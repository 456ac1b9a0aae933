package daemon

import "sync"

// change says that one object may have changed; watchers read it again.
type change struct {
	Kind      string // "StatefulSet", "Pod", "Event", "Service", "Volume"
	Namespace string
	Name      string
}

// hub fans changes out to watchers. Publishing never blocks: a watcher that
// falls more than its buffer behind is marked lagged and re-lists everything
// on its next receive, so a slow `get -w` cannot stall the daemon. hub is
// safe for concurrent use.
type hub struct {
	hooks  []func(change) // set before the first publish; called in order, synchronously
	mu     sync.Mutex
	nextID int
	subs   map[int]*subscription
}

// subscription is one watcher's end of the hub.
type subscription struct {
	ch     chan change
	mu     sync.Mutex
	lagged bool
}

func newHub() *hub { return &hub{subs: map[int]*subscription{}} }

// watchBuffer is how many changes a watcher may fall behind before it has
// to re-list.
const watchBuffer = 256

// hook has fn called with every change, synchronously in publish before
// any watcher hears of it: what fn updates (the DNS records) is current by
// the time a client sees the change. fn must be safe for concurrent use
// and quick. Hooks are added before the daemon starts publishing.
func (h *hub) hook(fn func(change)) { h.hooks = append(h.hooks, fn) }

// publish tells the hooks, then every watcher, about c.
func (h *hub) publish(c change) {
	for _, fn := range h.hooks {
		fn(c)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		select {
		case s.ch <- c:
		default:
			s.mu.Lock()
			s.lagged = true
			s.mu.Unlock()
		}
	}
}

// subscribe registers a watcher; cancel unregisters it.
func (h *hub) subscribe() (*subscription, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextID
	h.nextID++
	s := &subscription{ch: make(chan change, watchBuffer)}
	h.subs[id] = s
	return s, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, id)
	}
}

// takeLagged reports, once, that changes were dropped since the last call.
func (s *subscription) takeLagged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lagged
	s.lagged = false
	return l
}
