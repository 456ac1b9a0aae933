package dns_test

import (
	"context"
	"testing"

	"github.com/setlet/setlet/dns"
)

// TestFreebind: an address the host does not have yet (a bridge gateway
// before the bridge exists) can be bound.
func TestFreebind(t *testing.T) {
	s := dns.NewServer(dns.Config{})
	defer s.Close()
	if err := s.ListenAndServe(context.Background(), "192.0.2.53:0"); err != nil {
		t.Fatalf("binding an address the host lacks: %v", err)
	}
}
