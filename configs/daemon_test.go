package configs_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/setlet/setlet/configs"
)

// TestDaemonConfig covers the daemon configuration file: defaults, strict
// keys, derived socket and validation.
func TestDaemonConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) string {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		check   func(t *testing.T, c configs.DaemonConfig)
		wantErr string
	}{
		{"an empty file keeps the defaults", "", func(t *testing.T, c configs.DaemonConfig) {
			if c.DataDir != "/var/lib/setlet" || c.Socket != "/run/setlet/setlet.sock" || c.Bridge != "setlet0" {
				t.Errorf("config = %+v", c)
			}
		}, ""},
		{"the socket follows the run directory", "runDir: /run/other\nbridge: sl1\nsubnet: 10.99.0.0/24\ncniBinDirs: [/opt/cni/bin]\n", func(t *testing.T, c configs.DaemonConfig) {
			if c.Socket != "/run/other/setlet.sock" || c.Bridge != "sl1" || c.Subnet != "10.99.0.0/24" || len(c.CNIBinDirs) != 1 {
				t.Errorf("config = %+v", c)
			}
		}, ""},
		{"unknown keys are refused", "dataDirectory: /x\n", nil, `unknown field "dataDirectory"`},
		{"bad values are all reported", "dataDir: relative\nbridge: a-very-long-bridge-name\nsubnet: 10.0.0.0/31\n", nil,
			"dataDir: \"relative\" must be an absolute path\nbridge: \"a-very-long-bridge-name\" must be a network interface name of 1 to 15 characters\nsubnet: \"10.0.0.0/31\" leaves no room for pods: use /30 or larger"},
		{"DNS settings", "clusterDomain: edge.lan\ndnsListen: [127.0.0.1:1053]\ndnsUpstreams: [192.0.2.1, 192.0.2.2:5353]\ndnsTTL: 30s\n", func(t *testing.T, c configs.DaemonConfig) {
			if c.ClusterDomain != "edge.lan" || len(c.DNSListen) != 1 || len(c.DNSUpstreams) != 2 || c.DNSTTL.Seconds() != 30 {
				t.Errorf("config = %+v", c)
			}
		}, ""},
		{"DNS defaults", "", func(t *testing.T, c configs.DaemonConfig) {
			if c.ClusterDomain != "set.local" || len(c.DNSListen) != 0 || len(c.DNSUpstreams) != 0 || c.DNSTTL.Seconds() != 5 {
				t.Errorf("config = %+v", c)
			}
		}, ""},
		{"bad DNS settings are all reported", "clusterDomain: Not_A.Domain\ndnsListen: [localhost:53]\ndnsUpstreams: [none, 192.0.2.1]\ndnsTTL: 1500ms\n", nil,
			"clusterDomain: \"Not_A.Domain\" a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\n" +
				"dnsListen: \"localhost:53\" must be an IP address and port such as 127.0.0.1:1053\n" +
				"dnsUpstreams: \"none\" must be an IP address with an optional port, or the single value none\n" +
				"dnsTTL: \"1.5s\" must be a whole number of seconds, at least 1s"},
		{"a DNS TTL is a duration string", "dnsTTL: 5\n", nil, `a duration must be a string such as "5s"`},
		{"subnets are IPv4", "subnet: fd00::/64\n", nil, `subnet: "fd00::/64" must be an IPv4 CIDR such as 10.88.0.0/16`},
		{"the image directory follows the data directory", "dataDir: /srv/setlet\n", func(t *testing.T, c configs.DaemonConfig) {
			if c.ManifestDir != "/etc/setlet/manifests" || c.ImageDir != "/srv/setlet/images" {
				t.Errorf("config = %+v", c)
			}
		}, ""},
		{"watched directories can be turned off", "manifestDir: none\nimageDir: none\n", func(t *testing.T, c configs.DaemonConfig) {
			if c.ManifestDir != "none" || c.ImageDir != "none" {
				t.Errorf("config = %+v", c)
			}
		}, ""},
		{"watched directories are absolute", "manifestDir: manifests\nimageDir: images\n", nil,
			"manifestDir: \"manifests\" must be an absolute path or none\nimageDir: \"images\" must be an absolute path or none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configs.LoadDaemonConfig(write(tt.file), configs.DefaultDaemonConfig())
			if err == nil {
				c.Complete()
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
	if _, err := configs.LoadDaemonConfig(filepath.Join(dir, "missing.yaml"), configs.DefaultDaemonConfig()); err == nil {
		t.Error("a missing file must be an error (the caller decides when it is optional)")
	}
}

// TestShippedDaemonConfig: the config file `make install` puts in
// /etc/setlet loads to the defaults, and each key it shows, uncommented,
// is a real key with the default value, or, for the settings that are off
// by default (dnsListen, dnsUpstreams, metricsListen), a valid example.
func TestShippedDaemonConfig(t *testing.T) {
	const shipped = "systemd/config.yaml"
	def := configs.DefaultDaemonConfig()
	def.Complete()
	got, err := configs.LoadDaemonConfig(shipped, configs.DefaultDaemonConfig())
	if err != nil {
		t.Fatal(err)
	}
	got.Complete()
	if !reflect.DeepEqual(got, def) {
		t.Errorf("the shipped config loads to\n%+v\nnot the defaults\n%+v", got, def)
	}
	data, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(string(data), "\n") {
		key, ok := strings.CutPrefix(line, "# ")
		if !ok || !regexp.MustCompile(`^[a-zA-Z]+: `).MatchString(key) {
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) != 16 {
		t.Fatalf("found %d example keys in %s, want 16: %q", len(keys), shipped, keys)
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(strings.Join(keys, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	uncommented, err := configs.LoadDaemonConfig(p, configs.DaemonConfig{})
	if err != nil {
		t.Fatalf("the shipped examples uncommented: %v", err)
	}
	uncommented.Complete()
	want := def
	want.DNSListen, want.DNSUpstreams, want.MetricsListen = []string{"127.0.0.1:1053"}, []string{"192.0.2.53"}, "127.0.0.1:9464"
	if !reflect.DeepEqual(uncommented, want) {
		t.Errorf("the shipped examples uncommented load to\n%+v\nnot the defaults with the examples\n%+v", uncommented, want)
	}
	if err := uncommented.Validate(); err != nil {
		t.Errorf("the shipped examples uncommented: %v", err)
	}
}

// TestMetricsListen: metricsListen is off by default and takes HOST:PORT
// as net.Listen does, with a numeric port.
func TestMetricsListen(t *testing.T) {
	if def := configs.DefaultDaemonConfig(); def.MetricsListen != "" {
		t.Fatalf("metrics are on by default, at %q", def.MetricsListen)
	}
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"127.0.0.1:9464", true},
		{":9464", true},
		{"[::1]:9464", true},
		{"127.0.0.1:0", true},
		{"localhost:9464", true},
		{"edge-1.example.com:9464", true},
		{"9464", false},
		{"127.0.0.1", false},
		{"127.0.0.1:http", false},
		{"127.0.0.1:65536", false},
		{"::1:9464", false},
		{"bad_host:9464", false},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			c := configs.DefaultDaemonConfig()
			c.MetricsListen = tt.addr
			c.Complete()
			err := c.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "metricsListen: ") {
				t.Errorf("error %q does not name the setting", err)
			}
		})
	}
}

func TestDirOn(t *testing.T) {
	for dir, want := range map[string]bool{"/etc/setlet/manifests": true, "none": false, "": false} {
		if got := configs.DirOn(dir); got != want {
			t.Errorf("DirOn(%q) = %v, want %v", dir, got, want)
		}
	}
}
