package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon"
)

// daemonOptions are the inputs of `setlet daemon`: the config file and the
// flags that override it.
type daemonOptions struct {
	ConfigFile     string
	ConfigExplicit bool
	Overrides      func(*configs.DaemonConfig)
	LogLevel       string
}

func daemonCommand() *cli.Command {
	def := configs.DefaultDaemonConfig()
	return &cli.Command{
		Name:      "daemon",
		Usage:     "run the setlet daemon (as root; systemd runs it as setlet.service)",
		ArgsUsage: " ",
		Description: "Serves the API on a root-only unix socket and runs the applied StatefulSets through\n" +
			"containerd and CNI. Settings come from the config file (default " + configs.DefaultDaemonConfigFile + ",\n" +
			"optional), then from these flags. Stopping the daemon leaves the containers running; the\n" +
			"next start adopts them.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "daemon config `FILE` (YAML; keys as the flags in camelCase)", Value: configs.DefaultDaemonConfigFile},
			&cli.StringFlag{Name: "data-dir", Usage: "state, volumes and logs `DIR`", Value: def.DataDir},
			&cli.StringFlag{Name: "run-dir", Usage: "runtime `DIR` (socket, network namespaces, pod files)", Value: def.RunDir},
			&cli.StringFlag{Name: "containerd", Usage: "containerd's socket `PATH`", Value: def.Containerd},
			&cli.StringFlag{Name: "containerd-namespace", Usage: "containerd `NAMESPACE` of setlet's images and containers", Value: def.ContainerdNamespace},
			&cli.StringFlag{Name: "bridge", Usage: "`NAME` of the default CNI bridge", Value: def.Bridge},
			&cli.StringFlag{Name: "subnet", Usage: "pod `CIDR` of the default CNI network", Value: def.Subnet},
			&cli.StringSliceFlag{Name: "cni-bin-dir", Usage: "`DIR` searched for CNI plugins (repeatable, in order)", Value: cli.NewStringSlice(def.CNIBinDirs...)},
			&cli.StringFlag{Name: "cni-conf-dir", Usage: "`DIR` whose first *.conflist replaces the default network", Value: def.CNIConfDir},
			&cli.StringFlag{Name: "cluster-domain", Usage: "DNS `ZONE` of the pod names (<pod>.<service>.ZONE); the Kubernetes names under svc.cluster.local are served too", Value: def.ClusterDomain},
			&cli.StringSliceFlag{Name: "dns-listen", Usage: "extra `ADDR:PORT` for the DNS server besides the bridge gateway's port 53 (repeatable), e.g. 127.0.0.1:1053"},
			&cli.StringSliceFlag{Name: "dns-upstream", Usage: "resolver `ADDR[:PORT]` for names outside the zones (repeatable; default: the host's resolv.conf; none: forwarding off)"},
			&cli.DurationFlag{Name: "dns-ttl", Usage: "TTL of the DNS records", Value: def.DNSTTL.Duration},
			&cli.StringFlag{Name: "manifest-dir", Usage: "`DIR` of manifests applied at start and on every change (none: off)", Value: def.ManifestDir},
			&cli.StringFlag{Name: "image-dir", Usage: "`DIR` of image archives imported at start and when added (default DATA-DIR/images; none: off)"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics on GET /metrics at `HOST:PORT`, e.g. 127.0.0.1:9464 (default: off, nothing listens)"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("daemon takes no arguments, got %q", c.Args().First())
			}
			opts := daemonOptions{
				ConfigFile:     c.String("config"),
				ConfigExplicit: c.IsSet("config"),
				LogLevel:       c.String("log-level"),
				Overrides: func(cfg *configs.DaemonConfig) {
					for _, f := range []struct {
						name string
						dst  *string
					}{
						{"data-dir", &cfg.DataDir}, {"run-dir", &cfg.RunDir}, {"containerd", &cfg.Containerd},
						{"containerd-namespace", &cfg.ContainerdNamespace}, {"bridge", &cfg.Bridge},
						{"subnet", &cfg.Subnet}, {"cni-conf-dir", &cfg.CNIConfDir}, {"cluster-domain", &cfg.ClusterDomain},
						{"manifest-dir", &cfg.ManifestDir}, {"image-dir", &cfg.ImageDir}, {"metrics-listen", &cfg.MetricsListen},
					} {
						if c.IsSet(f.name) {
							*f.dst = c.String(f.name)
						}
					}
					if c.IsSet("cni-bin-dir") {
						cfg.CNIBinDirs = c.StringSlice("cni-bin-dir")
					}
					if c.IsSet("dns-listen") {
						cfg.DNSListen = c.StringSlice("dns-listen")
					}
					if c.IsSet("dns-upstream") {
						cfg.DNSUpstreams = c.StringSlice("dns-upstream")
					}
					if c.IsSet("dns-ttl") {
						cfg.DNSTTL = configs.Duration{Duration: c.Duration("dns-ttl")}
					}
					if c.IsSet("socket") {
						cfg.Socket = c.String("socket")
					}
				},
			}
			cfg, err := daemonConfig(opts)
			if err != nil {
				return err
			}
			log, err := daemonLogger(opts.LogLevel, c.App.ErrWriter)
			if err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return errors.New("the daemon must run as root (network namespaces, bridges, containerd)")
			}
			// SIGHUP (systemctl reload) reloads, as at start.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := daemon.Reload{Signals: hup, Load: func() (configs.DaemonConfig, error) { return daemonConfig(opts) }}
			return daemon.Run(c.Context, cfg, log, daemon.WithReload(reload))
		},
	}
}

// daemonConfig builds the daemon's configuration: defaults, then the config
// file (a missing default file is fine, a missing explicit one is not),
// then the flags.
func daemonConfig(opts daemonOptions) (configs.DaemonConfig, error) {
	cfg := configs.DefaultDaemonConfig()
	if _, err := os.Stat(opts.ConfigFile); err == nil || opts.ConfigExplicit {
		loaded, err := configs.LoadDaemonConfig(opts.ConfigFile, cfg)
		if err != nil {
			return cfg, err
		}
		cfg = loaded
	}
	if opts.Overrides != nil {
		opts.Overrides(&cfg)
	}
	cfg.Complete()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("daemon configuration:\n%w", err)
	}
	return cfg, nil
}

// daemonLogger returns the daemon's structured logger on w.
func daemonLogger(level string, w interface{ Write([]byte) (int, error) }) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
