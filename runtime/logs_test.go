package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// testLog opens a CRI log whose clock advances one millisecond a record.
func testLog(t *testing.T, path string, maxSize int64, maxFiles int) *criLog {
	t.Helper()
	l, err := openCRILog(path, maxSize, maxFiles, discard)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { now = now.Add(time.Millisecond); return now }
	return l
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

var recordRE = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) (.*)$`)

type rec struct{ stream, tag, text string }

func parseFile(t *testing.T, path string) []rec {
	t.Helper()
	var out []rec
	for _, l := range readLines(t, path) {
		m := recordRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s: %q is not a CRI record", path, l)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Fatalf("%s: timestamp %q: %v", path, m[1], err)
		}
		out = append(out, rec{m[2], m[3], m[4]})
	}
	return out
}

func TestCRILogWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "0.log")
	l := testLog(t, path, logMaxSize, logMaxFiles)
	out, errw := l.stream(streamStdout), l.stream(streamStderr)
	long := strings.Repeat("a", maxLogLine) + strings.Repeat("b", maxLogLine) + "cc"
	exact := strings.Repeat("x", maxLogLine)
	writes := []struct {
		w    io.Writer
		data string
	}{
		{out, "hello\n"},
		{errw, "warn"},
		{out, "ing? no: out again\r\n\n"},
		{errw, "ing\n"},
		{out, long[:5000]},
		{out, long[5000:] + "\n"},
		{out, exact + "\n"},
		{errw, "unfinished"},
	}
	for _, w := range writes {
		if n, err := w.w.Write([]byte(w.data)); err != nil || n != len(w.data) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := []rec{
		{"stdout", "F", "hello"},
		{"stdout", "F", "ing? no: out again"},
		{"stdout", "F", ""},
		{"stderr", "F", "warning"},
		{"stdout", "P", strings.Repeat("a", maxLogLine)},
		{"stdout", "P", strings.Repeat("b", maxLogLine)},
		{"stdout", "F", "cc"},
		{"stdout", "F", exact},
		{"stderr", "P", "unfinished"},
	}
	got := parseFile(t, path)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %.200q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %.80q, want %.80q", i, got[i], want[i])
		}
	}
	// The empty line is "<ts> stdout F " with its trailing space, as the
	// CRI plugin writes it.
	if lines := readLines(t, path); !strings.HasSuffix(lines[2], " stdout F ") {
		t.Errorf("empty line record %q", lines[2])
	}
}

func TestCRILogAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	for i := range 2 {
		l := testLog(t, path, logMaxSize, logMaxFiles)
		fmt.Fprintf(l.stream(streamStdout), "run %d\n", i)
		l.Close()
	}
	got := parseFile(t, path)
	if len(got) != 2 || got[0].text != "run 0" || got[1].text != "run 1" {
		t.Errorf("records %q, want both runs", got)
	}
}

func TestCRILogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "3.log")
	// Each record is 24+1+6+1+1+1+6+1 = 41 bytes ("<ts> stdout F line%02d"),
	// so a 100-byte file holds two.
	l := testLog(t, path, 100, 5)
	var wg sync.WaitGroup
	out, errw := l.stream(streamStdout), l.stream(streamStderr)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 15 {
			fmt.Fprintf(out, "out%03d\n", i)
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 15 {
			fmt.Fprintf(errw, "err%03d\n", i)
		}
	}()
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := []string{path + ".4", path + ".3", path + ".2", path + ".1", path}
	var all []rec
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
		if st.Size() > 100 {
			t.Errorf("%s is %d bytes, over the 100-byte limit", f, st.Size())
		}
		all = append(all, parseFile(t, f)...)
	}
	if _, err := os.Stat(path + ".5"); !os.IsNotExist(err) {
		t.Errorf("%s.5 exists: more than 5 files kept", path)
	}
	// Five files of two records keep the last ten records, each stream in
	// order (the streams race each other).
	if len(all) != 10 {
		t.Fatalf("kept %d records, want 10", len(all))
	}
	last := map[string]int{"stdout": -1, "stderr": -1}
	for _, r := range all {
		var n int
		fmt.Sscanf(r.text[3:], "%d", &n)
		if n <= last[r.stream] {
			t.Errorf("%s record %q out of order", r.stream, r.text)
		}
		last[r.stream] = n
	}
	if last["stdout"] != 14 && last["stderr"] != 14 {
		t.Errorf("last records %v, want the last of one stream", last)
	}
}

// writeLog writes a CRI log file made of records (stream, tag, text) with
// timestamps one second apart from base.
func writeLog(t *testing.T, path string, base time.Time, recs ...rec) time.Time {
	t.Helper()
	var b bytes.Buffer
	for _, r := range recs {
		base = base.Add(time.Second)
		fmt.Fprintf(&b, "%s %s %s %s\n", base.Format(time.RFC3339Nano), r.stream, r.tag, r.text)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return base
}

func TestReadLogs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	// Oldest first: 0.log.2, 0.log.1, 0.log.
	next := writeLog(t, path+".2", base, rec{"stdout", "F", "one"}, rec{"stderr", "F", "two"})
	next = writeLog(t, path+".1", next, rec{"stdout", "P", "thr"}, rec{"stderr", "F", "four"}, rec{"stdout", "F", "ee"})
	writeLog(t, path, next, rec{"stdout", "F", "five"}, rec{"stdout", "F", ""}, rec{"stderr", "P", "six, unfinished"})
	os.WriteFile(path+".bak", []byte("not a log\n"), 0o644)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("garbage line\n2024-05-01T10:00:09Z stdout F seven, written hal")
	f.Close()

	tests := []struct {
		name string
		opts LogOptions
		want string
	}{
		{name: "all", opts: LogOptions{Tail: -1}, want: "one\ntwo\nfour\nthree\nfive\n\nsix, unfinished\n"},
		{name: "tail 3", opts: LogOptions{Tail: 3}, want: "five\n\nsix, unfinished\n"},
		{name: "tail 0", opts: LogOptions{Tail: 0}, want: ""},
		{name: "tail more than all", opts: LogOptions{Tail: 100}, want: "one\ntwo\nfour\nthree\nfive\n\nsix, unfinished\n"},
		{name: "timestamps", opts: LogOptions{Tail: 2, Timestamps: true},
			want: "2024-05-01T10:00:07Z \n2024-05-01T10:00:08Z six, unfinished\n"},
		{name: "joined line keeps its first time", opts: LogOptions{Tail: -1, Timestamps: true, Since: base.Add(3 * time.Second)},
			want: "2024-05-01T10:00:04Z four\n2024-05-01T10:00:03Z three\n2024-05-01T10:00:06Z five\n2024-05-01T10:00:07Z \n2024-05-01T10:00:08Z six, unfinished\n"},
		{name: "since", opts: LogOptions{Tail: -1, Since: base.Add(6 * time.Second)}, want: "five\n\nsix, unfinished\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ReadLogs(context.Background(), path, tt.opts, &out, nil); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		err := ReadLogs(context.Background(), filepath.Join(dir, "9.log"), LogOptions{Tail: -1}, io.Discard, nil)
		if !errdefs.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
	})
	t.Run("only rotated files left", func(t *testing.T) {
		p := filepath.Join(dir, "7.log")
		writeLog(t, p+".1", base, rec{"stdout", "F", "old"})
		var out bytes.Buffer
		if err := ReadLogs(context.Background(), p, LogOptions{Tail: -1}, &out, nil); err != nil || out.String() != "old\n" {
			t.Errorf("got %q, %v", out.String(), err)
		}
	})
}

// notifyBuffer is a concurrency-safe buffer whose waitFor returns when it
// holds a string.
type notifyBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer { return &notifyBuffer{changed: make(chan struct{}, 1)} }

func (n *notifyBuffer) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.b.Write(p)
	select {
	case n.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (n *notifyBuffer) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

func (n *notifyBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !strings.Contains(n.String(), s) {
		select {
		case <-n.changed:
		case <-deadline.C:
			t.Fatalf("output %q does not contain %q after 10s", n.String(), s)
		}
	}
}

func TestReadLogsFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	l := testLog(t, path, 200, 5)
	out := l.stream(streamStdout)
	fmt.Fprintf(out, "before 1\nbefore 2\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buf := newNotifyBuffer()
	errc := make(chan error, 1)
	go func() { errc <- ReadLogs(ctx, path, LogOptions{Tail: 1, Follow: true}, buf, nil) }()
	buf.waitFor(t, "before 2\n")

	fmt.Fprintf(out, "after 1\n")
	buf.waitFor(t, "after 1\n")
	fmt.Fprintf(out, "a partial")
	fmt.Fprintf(out, " line\n")
	buf.waitFor(t, "a partial line\n")
	// Enough records (45 bytes each) to rotate the 200-byte file three
	// times, written faster than they are followed: the files the reader
	// did not see as the current one are read from their rotated names.
	for i := range 14 {
		fmt.Fprintf(out, "rotated %02d\n", i)
	}
	buf.waitFor(t, "rotated 13\n")
	// And one rotation at a time.
	for i := 14; i < 20; i++ {
		fmt.Fprintf(out, "rotated %02d\n", i)
		buf.waitFor(t, fmt.Sprintf("rotated %02d\n", i))
	}
	l.Close()

	want := "before 2\nafter 1\na partial line\n"
	for i := range 20 {
		want += fmt.Sprintf("rotated %02d\n", i)
	}
	if buf.String() != want {
		t.Errorf("followed\n%q\nwant\n%q", buf.String(), want)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("ReadLogs = %v after cancel, want context.Canceled", err)
	}
}

func TestReadLogsFollowWaitsForFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	done := make(chan struct{})
	buf := newNotifyBuffer()
	errc := make(chan error, 1)
	go func() { errc <- ReadLogs(context.Background(), path, LogOptions{Tail: -1, Follow: true}, buf, done) }()
	l := testLog(t, path, logMaxSize, logMaxFiles)
	fmt.Fprintf(l.stream(streamStderr), "first\n")
	buf.waitFor(t, "first\n")
	l.Close()
	close(done)
	if err := <-errc; err != nil {
		t.Errorf("ReadLogs = %v after done, want nil", err)
	}
}
