package storage_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// A few assertions in the shape of testify's require, which cannot be
// used here without changing go.mod (its dependencies are not listed).
// Each stops the test on failure.

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func hasErr(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
}

func errIs(t testing.TB, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("error %v is not %v", err, target)
		}
	}
}

func equal(t testing.TB, want, got any, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s\nwant: %s\n got: %s", describe(msg), show(want), show(got))
	}
}

func contains(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}

func isTrue(t testing.TB, ok bool, msg ...any) {
	t.Helper()
	if !ok {
		t.Fatalf("false: %s", describe(msg))
	}
}

func isNil(t testing.TB, v any) {
	t.Helper()
	if v == nil {
		return
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		if rv.IsNil() {
			return
		}
	}
	t.Fatalf("want nil, got %s", show(v))
}

func hasLen(t testing.TB, v any, n int) {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		t.Fatalf("want length %d, got %d: %s", n, l, show(v))
	}
}

func panics(t testing.TB, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("expected a panic")
		}
	}()
	f()
}

func describe(msg []any) string {
	if len(msg) == 0 {
		return "not equal"
	}
	return fmt.Sprint(msg...)
}

// show prints v as JSON when it can, which reads better than %#v for
// Kubernetes objects.
func show(v any) string {
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return "<unprintable>"
}
