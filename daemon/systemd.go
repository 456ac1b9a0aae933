package daemon

import (
	"context"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/setlet/setlet/configs"
)

// systemd integration (configs/systemd/setlet.service, Type=notify):
//
//   - READY=1 once the state is recovered and the API, DNS and network
//     serve; STOPPING=1 when the daemon begins to stop.
//   - RELOADING=1 on a reload (SIGHUP: ExecReload), READY=1 when done.
//   - WATCHDOG=1 every half WatchdogSec, but only when each reconcile loop
//     (the controller's and the kubelet side's queues) has taken a ping:
//     a wedged loop stops the pings and systemd restarts the daemon,
//     which leaves the containers running (KillMode=process).
//
// Without NOTIFY_SOCKET (not under systemd) every notification is a no-op.

// notifier sends a state to the service manager.
type notifier func(state string)

// sdNotify is the notifier of the real service manager. A failure to
// notify is logged, not fatal: the service manager's own timeouts act.
func sdNotify(log interface{ Warn(string, ...any) }) notifier {
	return func(state string) {
		if _, err := sd.SdNotify(false, state); err != nil {
			log.Warn("notifying systemd", "state", state, "err", err)
		}
	}
}

// pinger is a reconcile loop's queue, which answers pings when it is not
// wedged.
type pinger interface{ ping(fn func()) }

// runWatchdog sends WATCHDOG=1 every interval/2 that every loop answers a
// ping, until ctx ends. Each tick starts a round; a round whose pings are
// not all answered never notifies, so systemd's watchdog expires when a
// loop stays wedged for interval.
func runWatchdog(ctx context.Context, interval time.Duration, notify notifier, loops ...pinger) {
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		left := int32(len(loops))
		for _, l := range loops {
			l.ping(func() {
				if atomic.AddInt32(&left, -1) == 0 {
					notify(sd.SdNotifyWatchdog)
				}
			})
		}
	}
}

// Reload is what a reload (SIGHUP) does: load the configuration again
// (the config file and the flags, as at start) and act on it.
type Reload struct {
	// Signals are the reload requests (SIGHUP); Run stops reading when it
	// stops.
	Signals <-chan os.Signal
	// Load returns the configuration as it would be at start.
	Load func() (configs.DaemonConfig, error)
}

// WithReload has Run reload on each request of r.
func WithReload(r Reload) Option { return func(o *options) { o.reload = &r } }

// WithNotifier has Run send systemd's notifications to notify instead of
// $NOTIFY_SOCKET, and run the watchdog every watchdog/2 when watchdog is
// positive (tests).
func WithNotifier(notify func(state string), watchdog time.Duration) Option {
	return func(o *options) { o.notify, o.watchdog = notify, watchdog }
}

// reload loads the configuration again and applies what can change while
// the daemon runs. Nothing of the daemon configuration can: a change is
// logged with the fields that need a restart, and a configuration that
// does not load or validate is reported and the running one kept. (Run
// then has the manifest directory passed over again.)
func (d *Daemon) reload(load func() (configs.DaemonConfig, error)) {
	cfg, err := load()
	if err == nil {
		cfg.Complete()
		err = cfg.Validate()
	}
	if err != nil {
		d.log.Error("reload: the configuration is invalid; the daemon goes on with the running one", "err", err)
		return
	}
	if changed := changedFields(d.cfg, cfg); len(changed) > 0 {
		d.log.Warn("reload: these settings changed and take effect at the next start", "fields", changed)
		return
	}
	d.log.Info("reload: the configuration is unchanged")
}

// changedFields names the fields (as the config file spells them) that
// differ between a and b.
func changedFields(a, b configs.DaemonConfig) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
			if name == "" {
				name = va.Type().Field(i).Name
			}
			out = append(out, name)
		}
	}
	return out
}
