package configs_test

import (
	"os"
	"path/filepath"
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
		{"subnets are IPv4", "subnet: fd00::/64\n", nil, `subnet: "fd00::/64" must be an IPv4 CIDR such as 10.88.0.0/16`},
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
