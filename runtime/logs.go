package runtime

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The CRI log format, as containerd's CRI plugin writes it: one record a
// line, "<RFC 3339 nano timestamp> <stream> <tag> <text>\n", where tag is F
// for a full line or the last piece of one and P for a piece of a line cut
// at maxLogLine bytes (or left unfinished when the stream ended).
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
	tagPartial   = 'P'
	tagFull      = 'F'

	maxLogLine  = 16 << 10 // containerd's default max_container_log_line_size
	logMaxSize  = 10 << 20 // rotate a log file at 10 MiB, as the kubelet does
	logMaxFiles = 5        // N.log plus N.log.1 ... N.log.4
)

// criLog writes the stdout and stderr of one container task into a CRI log
// file, rotating it at maxSize and keeping maxFiles files. Records of both
// streams are written whole under one mutex; each stream has its own
// writer, used by one goroutine.
type criLog struct {
	path     string
	maxSize  int64
	maxFiles int
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	f       *os.File
	size    int64
	rec     []byte
	failed  bool // a write problem was logged; log the next only after a success
	streams []*streamWriter
}

// openCRILog opens (creating it and its directory if needed) the log file
// at path for appending.
func openCRILog(path string, maxSize int64, maxFiles int, logger *slog.Logger) (*criLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the log directory: %w", err)
	}
	l := &criLog{path: path, maxSize: maxSize, maxFiles: maxFiles, now: time.Now, log: logger}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *criLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening log file: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// stream returns the writer of one stream ("stdout" or "stderr"). Its
// Write never fails, so that a full disk never blocks the container.
func (l *criLog) stream(name string) *streamWriter {
	w := &streamWriter{log: l, stream: name, maxLine: maxLogLine}
	l.mu.Lock()
	l.streams = append(l.streams, w)
	l.mu.Unlock()
	return w
}

// write writes one record made of the concatenation of text.
func (l *criLog) write(stream string, tag byte, text []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.now().AppendFormat(l.rec[:0], time.RFC3339Nano)
	rec = append(rec, ' ')
	rec = append(rec, stream...)
	rec = append(rec, ' ', tag, ' ')
	rec = append(rec, text...)
	rec = append(rec, '\n')
	l.rec = rec
	if l.f != nil && l.size > 0 && l.size+int64(len(rec)) > l.maxSize {
		if err := l.rotate(); err != nil {
			l.problem("rotating container log", err)
		}
	}
	if l.f == nil {
		if err := l.open(); err != nil {
			l.problem("reopening container log", err)
			return
		}
	}
	n, err := l.f.Write(rec)
	l.size += int64(n)
	if err != nil {
		l.problem("writing container log", err)
		return
	}
	l.failed = false
}

func (l *criLog) problem(what string, err error) {
	if !l.failed {
		l.log.Warn(what, "path", l.path, "err", err)
		l.failed = true
	}
}

// rotate renames N.log to N.log.1 (N.log.1 to N.log.2 and so on, dropping
// the oldest) and opens a new N.log. Called with mu held.
func (l *criLog) rotate() error {
	if err := l.f.Close(); err != nil {
		l.f = nil
		return err
	}
	l.f = nil
	if l.maxFiles <= 1 {
		if err := os.Remove(l.path); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	for i := l.maxFiles - 1; i >= 1; i-- {
		from := l.path
		if i > 1 {
			from = l.path + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, l.path+"."+strconv.Itoa(i)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return l.open()
}

// Close writes what the streams hold of an unfinished line as partial
// records and closes the file. Call it once the streams' writers are no
// longer used.
func (l *criLog) Close() error {
	l.mu.Lock()
	streams := l.streams
	l.mu.Unlock()
	for _, s := range streams {
		s.flush()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// streamWriter cuts the bytes of one stream into CRI records.
type streamWriter struct {
	log     *criLog
	stream  string
	maxLine int
	pending []byte // an unfinished line, at most maxLine bytes
}

// Write implements io.Writer; it always reports success.
func (w *streamWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.pending = append(w.pending, p...)
			for len(w.pending) > w.maxLine {
				w.log.write(w.stream, tagPartial, w.pending[:w.maxLine])
				w.pending = append(w.pending[:0], w.pending[w.maxLine:]...)
			}
			break
		}
		line := p[:i]
		p = p[i+1:]
		if len(w.pending) > 0 {
			w.pending = append(w.pending, line...)
			line = w.pending
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		for len(line) > w.maxLine {
			w.log.write(w.stream, tagPartial, line[:w.maxLine])
			line = line[w.maxLine:]
		}
		w.log.write(w.stream, tagFull, line)
		w.pending = w.pending[:0]
	}
	return n, nil
}

// flush writes an unfinished line as a partial record, as the CRI plugin
// does when a stream ends without a newline.
func (w *streamWriter) flush() {
	if len(w.pending) > 0 {
		w.log.write(w.stream, tagPartial, w.pending)
		w.pending = w.pending[:0]
	}
}
