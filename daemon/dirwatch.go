package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDir runs pass over directory dir (what names it in messages) now,
// synchronously, and then again whenever a file there whose name match
// accepts is created, written, renamed or removed and the directory has
// been quiet for debounce, until ctx ends. It creates dir (0700) when it
// is missing. Passes never overlap: they run on one goroutine. The
// returned function asks for a pass at once (a reload). A pass's error is
// logged; the next change or request passes again.
func (d *Daemon) watchDir(ctx context.Context, what, dir string, match func(name string) bool, debounce time.Duration, pass func() error) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching the %s: %w", what, err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watching the %s %s: %w", what, dir, err)
	}
	if err := pass(); err != nil {
		d.log.Warn(what+" pass", "err", err)
	}
	due := make(chan struct{}, 1) // a pass is due; one deep
	now := func() {
		select {
		case due <- struct{}{}:
		default: // one is due already
		}
	}
	dw := &quiet{clock: d.clock, after: debounce, fn: now}
	go func() {
		defer w.Close()
		defer dw.stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if match(filepath.Base(ev.Name)) {
					dw.poke()
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Warn("watching the "+what+"; passing over it again", "err", err)
				dw.poke()
			case <-due:
				if err := pass(); err != nil {
					d.log.Warn(what+" pass", "err", err)
				}
			}
		}
	}()
	return now, nil
}
