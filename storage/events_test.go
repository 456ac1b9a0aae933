package storage_test

import (
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/setlet/setlet/storage"
)

func ev(reason, kind, ns, name string) storage.Event {
	return storage.Event{Type: "Normal", Reason: reason, Kind: kind, Namespace: ns, Name: name, Message: reason + " " + name}
}

func reasons(evs []storage.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Reason)
	}
	return out
}

func TestAddEvents(t *testing.T) {
	st, clock := openStore(t)
	given := time.Date(2024, 1, 1, 0, 0, 0, 987654321, time.UTC)
	in := []storage.Event{
		ev("A", "StatefulSet", "ns", "web"),
		{Type: "Warning", Reason: "B", Kind: "Pod", Namespace: "ns", Name: "web-0", Time: given, Seq: 77},
	}
	noErr(t, st.AddEvents(in...))
	equal(t, uint64(77), in[1].Seq) // the input is not modified
	isTrue(t, in[0].Time.IsZero(), "input time not set")

	clock.Advance(time.Second)
	noErr(t, st.AddEvents(ev("C", "StatefulSet", "ns", "web")))
	noErr(t, st.AddEvents()) // nothing to add

	evs, err := st.Events(storage.EventFilter{})
	noErr(t, err)
	hasLen(t, evs, 3)
	equal(t, []string{"A", "B", "C"}, reasons(evs))
	for i, e := range evs {
		equal(t, uint64(i+1), e.Seq)
	}
	isTrue(t, evs[0].Time.Equal(newClock().Now()), "clock time to the nanosecond: ", evs[0].Time)
	isTrue(t, evs[1].Time.Equal(given), "given time kept")
	isTrue(t, evs[2].Time.Equal(newClock().Now().Add(time.Second)), "later clock time")
	equal(t, "Warning", evs[1].Type)
	equal(t, "C web", evs[2].Message)
}

func TestAddEventsInvalid(t *testing.T) {
	st, _ := openStore(t)
	errIs(t, st.AddEvents(ev("A", "Pod", "ns", "p"), storage.Event{Type: "Info", Reason: "X"}), errdefs.ErrInvalidArgument)
	errIs(t, st.AddEvents(storage.Event{Type: "Normal"}), errdefs.ErrInvalidArgument)
	evs, err := st.Events(storage.EventFilter{})
	noErr(t, err)
	hasLen(t, evs, 0)
	_, err = st.Events(storage.EventFilter{Limit: -1})
	errIs(t, err, errdefs.ErrInvalidArgument)
}

func TestEventsFilter(t *testing.T) {
	st, _ := openStore(t)
	noErr(t, st.AddEvents(
		ev("1", "StatefulSet", "ns", "web"),
		ev("2", "Pod", "ns", "web-0"),
		ev("3", "StatefulSet", "other", "web"),
		ev("4", "StatefulSet", "ns", "web"),
		ev("5", "StatefulSet", "ns", "db"),
		ev("6", "Pod", "ns", "web-0"),
	))
	tests := []struct {
		name   string
		filter storage.EventFilter
		want   []string
	}{
		{"all", storage.EventFilter{}, []string{"1", "2", "3", "4", "5", "6"}},
		{"kind", storage.EventFilter{Kind: "Pod"}, []string{"2", "6"}},
		{"namespace", storage.EventFilter{Namespace: "other"}, []string{"3"}},
		{"object", storage.EventFilter{Kind: "StatefulSet", Namespace: "ns", Name: "web"}, []string{"1", "4"}},
		{"name", storage.EventFilter{Name: "web"}, []string{"1", "3", "4"}},
		{"after", storage.EventFilter{AfterSeq: 4}, []string{"5", "6"}},
		{"after the end", storage.EventFilter{AfterSeq: 6}, []string{}},
		{"newest", storage.EventFilter{Limit: 2}, []string{"5", "6"}},
		{"newest of an object", storage.EventFilter{Kind: "StatefulSet", Limit: 2}, []string{"4", "5"}},
		{"after and limit", storage.EventFilter{AfterSeq: 1, Name: "web", Limit: 5}, []string{"3", "4"}},
		{"no match", storage.EventFilter{Kind: "Service"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := st.Events(tt.filter)
			noErr(t, err)
			equal(t, tt.want, reasons(evs))
		})
	}
}

func TestEventLimit(t *testing.T) {
	st, clock := openStore(t, storage.WithEventLimit(3))
	noErr(t, st.AddEvents(ev("1", "", "", ""), ev("2", "", "", "")))
	noErr(t, st.AddEvents(ev("3", "", "", ""), ev("4", "", "", ""), ev("5", "", "", "")))
	evs, err := st.Events(storage.EventFilter{})
	noErr(t, err)
	equal(t, []string{"3", "4", "5"}, reasons(evs))
	equal(t, uint64(3), evs[0].Seq)

	// More than the limit in one call keeps the newest.
	var many []storage.Event
	for range 7 {
		many = append(many, ev("x", "", "", ""))
	}
	many[6].Reason = "last"
	noErr(t, st.AddEvents(many...))
	evs, err = st.Events(storage.EventFilter{})
	noErr(t, err)
	equal(t, []string{"x", "x", "last"}, reasons(evs))
	equal(t, uint64(12), evs[2].Seq)

	// Sequences go on after a reopen, and a larger limit keeps more.
	st = reopen(t, st, clock, storage.WithEventLimit(10))
	noErr(t, st.AddEvents(ev("after", "", "", "")))
	evs, err = st.Events(storage.EventFilter{})
	noErr(t, err)
	hasLen(t, evs, 4)
	equal(t, uint64(13), evs[3].Seq)

	// A smaller limit trims at the next add.
	st = reopen(t, st, clock, storage.WithEventLimit(2))
	noErr(t, st.AddEvents(ev("small", "", "", "")))
	evs, err = st.Events(storage.EventFilter{})
	noErr(t, err)
	equal(t, []string{"after", "small"}, reasons(evs))
}

func TestEventOrderSurvivesClockJumps(t *testing.T) {
	st, clock := openStore(t)
	noErr(t, st.AddEvents(ev("first", "", "", "")))
	clock.Advance(-time.Hour)
	noErr(t, st.AddEvents(ev("second", "", "", "")))
	evs, err := st.Events(storage.EventFilter{})
	noErr(t, err)
	equal(t, []string{"first", "second"}, reasons(evs))
}
