package network_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/setlet/setlet/network"
)

// TestUserConflist proves that the first *.conflist of ConfDir in name
// order replaces the default network (here: the same bridge with another
// subnet), and that Gateway and Allocated follow its host-local range.
func TestUserConflist(t *testing.T) {
	confDir := t.TempDir()
	ipamDir := t.TempDir()
	var subnet *net.IPNet
	e := newEnv(t, func(cfg *network.Config) {
		cfg.ConfDir = confDir
		// Another /24, in the upper half of 10.231.0.0/16, away from the
		// subnets newEnv hands out.
		octet := 128 + (os.Getpid()+len(cfg.Bridge))%120
		_, subnet, _ = net.ParseCIDR(fmt.Sprintf("10.231.%d.0/24", octet))
		name := "sltu-" + cfg.Bridge
		writeFile(t, filepath.Join(confDir, "10-user.conflist"), fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`, name, cfg.Bridge, subnet.String(), ipamDir))
		writeFile(t, filepath.Join(confDir, "20-ignored.conflist"), `{"cniVersion": "1.0.0", "name": "ignored", "plugins": [{"type": "nosuch"}]}`)
		writeFile(t, filepath.Join(confDir, "00-not-a-conflist.conf"), `not even JSON`)
	})
	e.subnet = subnet
	if got, want := e.m.NetworkName(), "sltu-"+e.cfg.Bridge; got != want {
		t.Fatalf("NetworkName() = %s, want %s", got, want)
	}
	wantGW := net.ParseIP(subnet.IP.String()).To4()
	wantGW[3] = 1
	if !e.m.Gateway().Equal(wantGW) {
		t.Fatalf("Gateway() = %s, want %s (host-local's default: the first host)", e.m.Gateway(), wantGW)
	}
	a := e.attachment("web-0", network.PortMapping{HostPort: freePort(t), ContainerPort: 80})
	r := e.setup(a) // checks r.IP is in the user's subnet
	if !r.Gateway.Equal(wantGW) {
		t.Errorf("Result.Gateway = %s, want %s", r.Gateway, wantGW)
	}
	e.requireAllocated(r.IP)
	if entries, _ := os.ReadDir(filepath.Join(ipamDir, e.m.NetworkName())); len(entries) == 0 {
		t.Errorf("host-local did not use the conflist's dataDir %s", ipamDir)
	}
	e.teardown(a)
	e.requireEmpty()
}

// TestNewReportsMissingPlugins proves that New names every missing plugin,
// the directories it searched and the Debian package, as NotFound, and
// creates nothing on the host.
func TestNewReportsMissingPlugins(t *testing.T) {
	dir := t.TempDir()
	empty := t.TempDir()
	cfg := network.Config{
		Bridge:   "sltmissing",
		Subnet:   "10.231.255.0/24",
		BinDirs:  []string{empty},
		NetnsDir: filepath.Join(dir, "netns"),
		DataDir:  filepath.Join(dir, "data"),
	}
	_, err := network.New(cfg, nil)
	if !errdefs.IsNotFound(err) {
		t.Fatalf("New with an empty plugin directory: %v, want NotFound", err)
	}
	for _, want := range []string{`"bridge"`, `"host-local"`, `"portmap"`, empty, "containernetworking-plugins"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	for _, p := range []string{cfg.NetnsDir, cfg.DataDir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("New created %s", p)
		}
	}

	confDir := t.TempDir()
	writeFile(t, filepath.Join(confDir, "x.conflist"), `{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge"}, {"type": "nosuch"}]}`)
	cfg.BinDirs, cfg.ConfDir = nil, confDir
	if _, err := network.New(cfg, nil); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), `"nosuch"`) || strings.Contains(err.Error(), `"bridge"`) {
		t.Fatalf("New with a conflist naming a missing plugin: %v, want NotFound naming \"nosuch\" only", err)
	}
}

// TestNewRejectsBadConfig proves that New reports bad configs and bad
// conflists as InvalidArgument, and versions the plugins do not speak as
// FailedPrecondition.
func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	good := network.Config{Bridge: "sltbad", Subnet: "10.231.254.0/24", NetnsDir: filepath.Join(dir, "n"), DataDir: filepath.Join(dir, "d")}
	conflist := func(body string) string {
		d := t.TempDir()
		writeFile(t, filepath.Join(d, "net.conflist"), body)
		return d
	}
	tests := []struct {
		name  string
		edit  func(*network.Config)
		class func(error) bool
	}{
		{"no netns dir", func(c *network.Config) { c.NetnsDir = "" }, errdefs.IsInvalidArgument},
		{"relative data dir", func(c *network.Config) { c.DataDir = "data" }, errdefs.IsInvalidArgument},
		{"relative bin dir", func(c *network.Config) { c.BinDirs = []string{"bin"} }, errdefs.IsInvalidArgument},
		{"no bridge", func(c *network.Config) { c.Bridge = "" }, errdefs.IsInvalidArgument},
		{"bridge name too long", func(c *network.Config) { c.Bridge = "a-very-long-bridge" }, errdefs.IsInvalidArgument},
		{"bridge name with slash", func(c *network.Config) { c.Bridge = "a/b" }, errdefs.IsInvalidArgument},
		{"no subnet", func(c *network.Config) { c.Subnet = "" }, errdefs.IsInvalidArgument},
		{"subnet with host bits", func(c *network.Config) { c.Subnet = "10.231.254.7/24" }, errdefs.IsInvalidArgument},
		{"IPv6 subnet", func(c *network.Config) { c.Subnet = "fd00::/64" }, errdefs.IsInvalidArgument},
		{"subnet too small", func(c *network.Config) { c.Subnet = "10.231.254.0/31" }, errdefs.IsInvalidArgument},
		{"conflist not JSON", func(c *network.Config) { c.ConfDir = conflist("{") }, errdefs.IsInvalidArgument},
		{"conflist without plugins", func(c *network.Config) {
			c.ConfDir = conflist(`{"cniVersion": "1.0.0", "name": "x"}`)
		}, errdefs.IsInvalidArgument},
		{"conflist with a bad name", func(c *network.Config) {
			c.ConfDir = conflist(`{"cniVersion": "1.0.0", "name": "a b", "plugins": [{"type": "bridge"}]}`)
		}, errdefs.IsInvalidArgument},
		{"CNI version newer than the plugins", func(c *network.Config) {
			c.ConfDir = conflist(`{"cniVersion": "1.1.0", "name": "x", "plugins": [{"type": "bridge"}]}`)
		}, errdefs.IsFailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := network.New(cfg, nil)
			if !tt.class(err) {
				t.Fatalf("New: %v, want another error class", err)
			}
		})
	}
	if _, err := network.New(good, nil); err != nil {
		t.Fatalf("New with the good config: %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
