package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	corev1 "k8s.io/api/core/v1"
)

// Event is one entry of the event log: something that happened to an
// object, as `kubectl describe` shows it.
type Event struct {
	Seq       uint64    `json:"-"`    // assigned by AddEvents, strictly increasing; the key
	Time      time.Time `json:"time"` // nanosecond precision; AddEvents uses the clock when zero
	Type      string    `json:"type"` // corev1.EventTypeNormal or corev1.EventTypeWarning
	Reason    string    `json:"reason"`
	Kind      string    `json:"kind"` // involved object
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Message   string    `json:"message"`
}

// EventFilter selects events. Empty fields match anything.
type EventFilter struct {
	Kind, Namespace, Name string
	AfterSeq              uint64 // only events with a larger Seq
	Limit                 int    // if > 0, only the newest Limit matching events
}

// eventKey encodes seq big-endian, so that keys sort by sequence whatever
// the clock does.
func eventKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// AddEvents appends evs to the log, assigning each a Seq (and the clock's
// time when Time is zero), then trims the oldest events beyond the store's
// event limit, all in tx; evs is not modified. An event whose Type is not
// Normal or Warning, or without a Reason, gives an
// errdefs.ErrInvalidArgument error.
func (tx *Tx) AddEvents(evs ...Event) error {
	for _, ev := range evs {
		if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
			return invalid("adding event %s: type %q is neither Normal nor Warning", ev.Reason, ev.Type)
		}
		if ev.Reason == "" {
			return invalid("adding event: reason is required")
		}
	}
	if err := tx.checkWritable(); err != nil || len(evs) == 0 {
		return err
	}
	b, err := tx.writeBucket(bucketEvents)
	if err != nil {
		return err
	}
	var last uint64
	for _, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = tx.s.now()
		}
		if last, err = tx.nextSequence(b); err != nil {
			return fmt.Errorf("adding event: %w", err)
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("adding event %d: encoding: %w", last, err)
		}
		if err := tx.put(b, eventKey(last), raw); err != nil {
			return fmt.Errorf("adding event %d: %w", last, err)
		}
	}
	return tx.trimEvents(b, last, uint64(tx.s.events))
}

// trimEvents deletes the events with Seq <= last-limit. Sequences are
// contiguous, so at most limit events remain.
func (tx *Tx) trimEvents(b *bolt.Bucket, last, limit uint64) error {
	if last <= limit {
		return nil
	}
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && seqOf(k) <= last-limit; k, _ = c.Next() {
		old = append(old, slices.Clone(k))
	}
	for _, k := range old {
		if err := tx.delete(b, k); err != nil {
			return fmt.Errorf("trimming event %d: %w", seqOf(k), err)
		}
	}
	return nil
}

// seqOf decodes an event key; a malformed key reads as 0.
func seqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// Events returns the events f selects, oldest first.
func (tx *Tx) Events(f EventFilter) ([]Event, error) {
	if f.Limit < 0 {
		return nil, invalid("listing events: negative limit %d", f.Limit)
	}
	b, err := tx.bucket(bucketEvents)
	if err != nil || b == nil {
		return nil, err
	}
	var out []Event
	c := b.Cursor()
	for k, raw := c.Last(); k != nil; k, raw = c.Prev() {
		seq := seqOf(k)
		if seq <= f.AfterSeq || (f.Limit > 0 && len(out) == f.Limit) {
			break
		}
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("reading event %d: %w", seq, err)
		}
		if (f.Kind != "" && ev.Kind != f.Kind) || (f.Namespace != "" && ev.Namespace != f.Namespace) || (f.Name != "" && ev.Name != f.Name) {
			continue
		}
		ev.Seq = seq
		out = append(out, ev)
	}
	slices.Reverse(out)
	return out, nil
}

// AddEvents is Tx.AddEvents in its own Update.
func (s *Store) AddEvents(evs ...Event) error {
	return s.Update(func(tx *Tx) error { return tx.AddEvents(evs...) })
}

// Events is Tx.Events in its own View.
func (s *Store) Events(f EventFilter) (evs []Event, err error) {
	err = s.View(func(tx *Tx) error { evs, err = tx.Events(f); return err })
	return evs, err
}
