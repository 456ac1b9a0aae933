package dns_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/setlet/setlet/dns"
)

func TestHostUpstreams(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("10.88.0.1"), netip.MustParseAddr("127.0.0.1")}
	tests := []struct {
		name       string
		resolvConf string
		want       []string
	}{
		{"plain", "nameserver 192.0.2.1\nnameserver 192.0.2.2\n", []string{"192.0.2.1:53", "192.0.2.2:53"}},
		{"comments, options, search", "# generated\n; x\nsearch example.com\noptions ndots:5\nnameserver 192.0.2.1 # primary\n", []string{"192.0.2.1:53"}},
		{"IPv6, with zone", "nameserver 2001:db8::1\nnameserver fe80::1%eth0\n", []string{"[2001:db8::1]:53", "[fe80::1%eth0]:53"}},
		{"own addresses skipped", "nameserver 10.88.0.1\nnameserver 192.0.2.1\n", []string{"192.0.2.1:53"}},
		{"loopback stub skipped when others exist", "nameserver 127.0.0.53\nnameserver 192.0.2.1\n", []string{"192.0.2.1:53"}},
		{"loopback stub kept when alone", "nameserver 127.0.0.53\nnameserver ::1\n", []string{"127.0.0.53:53", "[::1]:53"}},
		{"own loopback never", "nameserver 127.0.0.1\n", nil},
		{"duplicates", "nameserver 192.0.2.1\nnameserver 192.0.2.1\n", []string{"192.0.2.1:53"}},
		{"garbage", "nameserver\nnameserver resolver.example\nnameserverx 192.0.2.9\n\x00\xff", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dns.HostUpstreams([]byte(tt.resolvConf), own); !slices.Equal(got, tt.want) {
				t.Errorf("HostUpstreams = %q, want %q", got, tt.want)
			}
		})
	}
}
