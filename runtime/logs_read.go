package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/fsnotify/fsnotify"
)

// LogOptions selects what ReadLogs prints.
type LogOptions struct {
	// Tail is the number of lines to print from the end of the log; -1
	// prints every line.
	Tail int
	// Follow keeps printing lines as they are appended.
	Follow bool
	// Timestamps prefixes every line with its RFC 3339 time.
	Timestamps bool
	// Since skips lines written before it (zero: no limit).
	Since time.Time
}

// ReadLogs writes the lines of the CRI log file at path, and of its rotated
// predecessors path.1, path.2 ... (oldest first), to out as `kubectl logs`
// prints them: the text of each line, or "<timestamp> <text>" with
// opts.Timestamps; partial records are joined to the rest of their line.
//
// With opts.Follow it then keeps writing lines as they are appended,
// following the file across rotations (it watches the file's directory
// with fsnotify, no polling), until ctx ends (it returns ctx.Err()) or done
// is closed (it returns nil); done may be nil. Without Follow, a log that
// does not exist is an errdefs.ErrNotFound-wrapped error; with Follow,
// ReadLogs waits for it to appear (its directory must exist). It is safe
// to call concurrently, also
// while the log is being written.
func ReadLogs(ctx context.Context, path string, opts LogOptions, out io.Writer, done <-chan struct{}) error {
	path = filepath.Clean(path)
	r := &logReader{path: path, opts: opts, out: out, join: newJoiner()}
	var w *fsnotify.Watcher
	if opts.Follow {
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			return fmt.Errorf("watching log %s: %w", path, err)
		}
		defer w.Close()
		// Watch before the first read, so that no change is missed.
		if err := w.Add(filepath.Dir(path)); err != nil {
			if os.IsNotExist(err) {
				return fmt.Errorf("watching log %s: %w", path, errdefs.ErrNotFound)
			}
			return fmt.Errorf("watching log %s: %w", path, err)
		}
	}
	if err := r.initial(); err != nil {
		return err
	}
	defer r.close()
	if !opts.Follow {
		return nil
	}
	if err := r.sync(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) != filepath.Base(path) {
				continue
			}
			if err := r.sync(); err != nil {
				return err
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return fmt.Errorf("watching log %s: %w", path, err)
		}
	}
}

// logReader holds the state of one ReadLogs call.
type logReader struct {
	path string
	opts LogOptions
	out  io.Writer
	join *joiner

	cur  *os.File // the file at path being followed, nil when none
	rest []byte   // bytes of cur after its last complete record
}

// initial prints the lines already in the log, honouring Tail and Since.
func (r *logReader) initial() error {
	cur, err := os.Open(r.path)
	switch {
	case err == nil:
		r.cur = cur
	case !os.IsNotExist(err):
		return fmt.Errorf("reading log: %w", err)
	}
	var curInfo os.FileInfo
	if r.cur != nil {
		if curInfo, err = r.cur.Stat(); err != nil {
			return fmt.Errorf("reading log: %w", err)
		}
	}
	rotated, err := openRotated(r.path)
	if err != nil {
		return err
	}
	defer closeAll(rotated)
	// Newest first: for a tail, older files are read only while more lines
	// are needed. A rotated file that is the file open as cur (rotated
	// since it was opened) is read through cur.
	var chunks [][]record
	lines := 0
	if r.cur != nil {
		data, err := io.ReadAll(r.cur)
		if err != nil {
			return fmt.Errorf("reading log: %w", err)
		}
		recs, rest := parseRecords(data)
		r.rest = append(r.rest[:0], rest...)
		chunks = append(chunks, recs)
		lines += countFull(recs)
	}
	for i := len(rotated) - 1; i >= 0; i-- {
		if r.opts.Tail >= 0 && lines >= r.opts.Tail {
			break
		}
		if curInfo != nil && os.SameFile(rotated[i].info, curInfo) {
			continue
		}
		data, err := io.ReadAll(rotated[i].f)
		if err != nil {
			return fmt.Errorf("reading log: %w", err)
		}
		recs, _ := parseRecords(data)
		chunks = append(chunks, recs)
		lines += countFull(recs)
	}
	if r.cur == nil && len(rotated) == 0 && !r.opts.Follow {
		return fmt.Errorf("log %s: %w", r.path, errdefs.ErrNotFound)
	}
	var all []line
	for i := len(chunks) - 1; i >= 0; i-- {
		for _, rec := range chunks[i] {
			if l, ok := r.join.add(rec); ok && r.keep(l) {
				all = append(all, l)
			}
		}
	}
	if !r.opts.Follow {
		// Lines whose end was never written count as lines; when
		// following, they wait for their end.
		for _, l := range r.join.drain() {
			if r.keep(l) {
				all = append(all, l)
			}
		}
	}
	if r.opts.Tail >= 0 && len(all) > r.opts.Tail {
		all = all[len(all)-r.opts.Tail:]
	}
	for _, l := range all {
		if err := r.print(l); err != nil {
			return err
		}
	}
	return nil
}

// sync prints what was appended to the followed file and, after a
// rotation, moves on to the file now at path, first printing the files
// rotated in between (a fast writer may rotate several times between two
// looks).
func (r *logReader) sync() error {
	for {
		if err := r.readMore(); err != nil {
			return err
		}
		st, err := os.Stat(r.path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // rotated away; the new file's creation is an event
			}
			return fmt.Errorf("following log: %w", err)
		}
		var prev os.FileInfo
		old := r.cur
		if old != nil {
			info, err := old.Stat()
			if err == nil && os.SameFile(info, st) {
				return nil
			}
			prev = info
		}
		f, err := os.Open(r.path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return fmt.Errorf("following log: %w", err)
		}
		r.cur, r.rest = f, r.rest[:0]
		// The old file stays open until the files between it and the new
		// one are read: an inode number is unique only among files that
		// exist.
		err = r.readBetween(prev, f)
		if old != nil {
			old.Close()
		}
		if err != nil {
			return err
		}
	}
}

// readBetween prints the rotated files newer than prev and older than
// the file next. When prev is gone, every rotated file older than next is
// newer; when prev is nil (the log did not exist), there is nothing to do.
func (r *logReader) readBetween(prev os.FileInfo, nextFile *os.File) error {
	if prev == nil {
		return nil
	}
	next, err := nextFile.Stat()
	if err != nil {
		return fmt.Errorf("following log: %w", err)
	}
	rotated, err := openRotated(r.path)
	if err != nil {
		return err
	}
	defer closeAll(rotated)
	var between []*os.File // newest first
	for i := len(rotated) - 1; i >= 0; i-- {
		if os.SameFile(rotated[i].info, prev) {
			break
		}
		if os.SameFile(rotated[i].info, next) {
			between = between[:0] // next was rotated too; what is newer comes later
			continue
		}
		between = append(between, rotated[i].f)
	}
	for i := len(between) - 1; i >= 0; i-- {
		data, err := io.ReadAll(between[i])
		if err != nil {
			return fmt.Errorf("following log: %w", err)
		}
		recs, _ := parseRecords(data)
		for _, rec := range recs {
			if l, ok := r.join.add(rec); ok && r.keep(l) {
				if err := r.print(l); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readMore prints the complete records appended to cur.
func (r *logReader) readMore() error {
	if r.cur == nil {
		return nil
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.cur.Read(buf)
		if n > 0 {
			r.rest = append(r.rest, buf[:n]...)
			recs, rest := parseRecords(r.rest)
			for _, rec := range recs {
				if l, ok := r.join.add(rec); ok && r.keep(l) {
					if err := r.print(l); err != nil {
						return err
					}
				}
			}
			r.rest = append(r.rest[:0], rest...)
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("following log: %w", err)
		}
	}
}

func (r *logReader) close() {
	if r.cur != nil {
		r.cur.Close()
	}
}

func (r *logReader) keep(l line) bool {
	return r.opts.Since.IsZero() || !l.at.Before(r.opts.Since)
}

func (r *logReader) print(l line) error {
	var b []byte
	if r.opts.Timestamps {
		b = append(b, l.stamp...)
		b = append(b, ' ')
	}
	b = append(b, l.text...)
	b = append(b, '\n')
	if _, err := r.out.Write(b); err != nil {
		return fmt.Errorf("writing logs: %w", err)
	}
	return nil
}

// logFile is an open log file.
type logFile struct {
	f    *os.File
	info os.FileInfo
}

func closeAll(files []logFile) {
	for _, lf := range files {
		lf.f.Close()
	}
}

// openRotated opens the rotated files of the log at path, oldest first. A
// rotation renames every file, so the names are read again after opening
// and the whole is retried until no rotation happened meanwhile (a
// rotation caught halfway still gives the files in order).
func openRotated(path string) ([]logFile, error) {
	for attempt := 0; ; attempt++ {
		before, err := statRotated(path)
		if err != nil {
			return nil, err
		}
		files := make([]logFile, 0, len(before))
		ok := true
		for _, b := range before {
			f, err := os.Open(b.name)
			if err != nil {
				if !os.IsNotExist(err) {
					closeAll(files)
					return nil, fmt.Errorf("reading log: %w", err)
				}
				ok = false
				break
			}
			info, err := f.Stat()
			if err != nil {
				f.Close()
				closeAll(files)
				return nil, fmt.Errorf("reading log: %w", err)
			}
			files = append(files, logFile{f, info})
			if !os.SameFile(info, b.info) {
				ok = false
				break
			}
		}
		if ok {
			after, err := statRotated(path)
			if err != nil {
				closeAll(files)
				return nil, err
			}
			ok = len(after) == len(before)
			for i := 0; ok && i < len(after); i++ {
				ok = after[i].name == before[i].name && os.SameFile(after[i].info, before[i].info)
			}
		}
		if ok || attempt == 100 {
			return files, nil
		}
		closeAll(files)
	}
}

type namedInfo struct {
	name string
	info os.FileInfo
}

// statRotated lists the rotated files of the log at path, oldest first.
func statRotated(path string) ([]namedInfo, error) {
	matches, err := filepath.Glob(path + ".*")
	if err != nil {
		return nil, fmt.Errorf("listing rotated logs: %w", err)
	}
	type numbered struct {
		namedInfo
		n int
	}
	var files []numbered
	for _, m := range matches {
		n, err := strconv.Atoi(strings.TrimPrefix(m, path+"."))
		if err != nil || n <= 0 {
			continue
		}
		info, err := os.Stat(m)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("listing rotated logs: %w", err)
		}
		files = append(files, numbered{namedInfo{m, info}, n})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n > files[j].n })
	out := make([]namedInfo, len(files))
	for i, f := range files {
		out[i] = f.namedInfo
	}
	return out, nil
}

// record is one parsed line of a CRI log file.
type record struct {
	stamp  []byte // as written
	at     time.Time
	stream string
	full   bool
	text   []byte
}

// parseRecords parses the complete records of data and returns the bytes
// after the last newline. Lines that are not CRI records are skipped.
func parseRecords(data []byte) ([]record, []byte) {
	var recs []record
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return recs, data
		}
		if rec, ok := parseRecord(data[:i]); ok {
			recs = append(recs, rec)
		}
		data = data[i+1:]
	}
}

func parseRecord(b []byte) (record, bool) {
	stamp, b, ok1 := bytes.Cut(b, []byte{' '})
	stream, b, ok2 := bytes.Cut(b, []byte{' '})
	tag, text, ok3 := bytes.Cut(b, []byte{' '})
	if !ok1 || !ok2 {
		return record{}, false
	}
	if !ok3 { // an empty line whose record lacks the final space
		text = nil
	}
	at, err := time.Parse(time.RFC3339Nano, string(stamp))
	if err != nil || len(tag) != 1 || (tag[0] != tagFull && tag[0] != tagPartial) {
		return record{}, false
	}
	return record{stamp: stamp, at: at, stream: string(stream), full: tag[0] == tagFull, text: text}, true
}

func countFull(recs []record) int {
	n := 0
	for _, r := range recs {
		if r.full {
			n++
		}
	}
	return n
}

// line is one line of output, joined from its records.
type line struct {
	stamp []byte
	at    time.Time
	text  []byte
}

// joiner joins the partial records of each stream to the full record that
// ends their line; the line carries the time of its first piece.
type joiner struct {
	pending map[string]*line
	order   []string // streams with pending pieces, in order of arrival
}

func newJoiner() *joiner { return &joiner{pending: make(map[string]*line)} }

func (j *joiner) add(rec record) (line, bool) {
	p := j.pending[rec.stream]
	if p == nil {
		if rec.full {
			return line{stamp: append([]byte(nil), rec.stamp...), at: rec.at, text: append([]byte(nil), rec.text...)}, true
		}
		p = &line{stamp: append([]byte(nil), rec.stamp...), at: rec.at}
		j.pending[rec.stream] = p
		j.order = append(j.order, rec.stream)
	}
	p.text = append(p.text, rec.text...)
	if !rec.full {
		return line{}, false
	}
	delete(j.pending, rec.stream)
	for i, s := range j.order {
		if s == rec.stream {
			j.order = append(j.order[:i], j.order[i+1:]...)
			break
		}
	}
	return *p, true
}

// drain returns the unfinished lines and forgets them.
func (j *joiner) drain() []line {
	var out []line
	for _, s := range j.order {
		out = append(out, *j.pending[s])
	}
	j.pending = make(map[string]*line)
	j.order = nil
	return out
}
