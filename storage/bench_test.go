package storage_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/setlet/setlet/storage"
)

// BenchmarkApplyStatefulSet measures one Store.Apply of a StatefulSet
// whose spec changes each time (decode, compare, encode, commit and fsync).
func BenchmarkApplyStatefulSet(b *testing.B) {
	st, _ := openStore(b)
	var sets [2]storage.Object
	for i := range sets {
		set := newSet("default", "web")
		set.Spec.Replicas = ptrTo(int32(i + 1))
		sets[i] = set
	}
	i := 0
	for b.Loop() {
		if _, err := st.Apply(sets[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRawBoltPut is the baseline of BenchmarkApplyStatefulSet: the
// same StatefulSet's JSON written with a bare bbolt Put in its own
// transaction (commit and fsync included), no decoding or comparing.
func BenchmarkRawBoltPut(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var raw [2][]byte
	for i := range raw {
		set := newSet("default", "web")
		set.Spec.Replicas = ptrTo(int32(i + 1))
		if raw[i], err = json.Marshal(set); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("objects"))
			if err != nil {
				return err
			}
			return bk.Put([]byte("default/web"), raw[i%2])
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkApplyUnchanged measures an Apply that finds nothing to write.
func BenchmarkApplyUnchanged(b *testing.B) {
	st, _ := openStore(b)
	set := newSet("default", "web")
	if _, err := st.Apply(set); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := st.Apply(set); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddEvents measures adding a batch of 10 events to a full log of
// 1000 (so every call also trims 10).
func BenchmarkAddEvents(b *testing.B) {
	st, _ := openStore(b)
	batch := make([]storage.Event, 10)
	for i := range batch {
		batch[i] = storage.Event{Type: "Normal", Reason: "SuccessfulCreate", Kind: "StatefulSet", Namespace: "default", Name: "web", Message: "create Pod web-0 in StatefulSet web successful"}
	}
	for range 100 {
		if err := st.AddEvents(batch...); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if err := st.AddEvents(batch...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventsOfObject measures reading the newest 20 events of one
// object from a full log.
func BenchmarkEventsOfObject(b *testing.B) {
	st, _ := openStore(b)
	for i := range 1000 {
		name := "web-" + itoa(i%10)
		if err := st.AddEvents(storage.Event{Type: "Normal", Reason: "Started", Kind: "Pod", Namespace: "default", Name: name}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		evs, err := st.Events(storage.EventFilter{Kind: "Pod", Namespace: "default", Name: "web-3", Limit: 20})
		if err != nil || len(evs) != 20 {
			b.Fatal(len(evs), err)
		}
	}
}
