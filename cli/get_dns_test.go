package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/setlet/setlet/daemon/api"
)

// fakeDNS serves a fixed record list, filtered as the daemon filters.
type fakeDNS struct{ recs []api.DNSRecord }

func (f fakeDNS) DNSRecords(_ context.Context, name string) ([]api.DNSRecord, error) {
	if name == "" {
		return f.recs, nil
	}
	var out []api.DNSRecord
	for _, r := range f.recs {
		if r.Pod == "default/"+name || r.Service == "default/"+name {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestGetDNS(t *testing.T) {
	client := fakeDNS{recs: []api.DNSRecord{
		{Name: "nginx.set.local.", TTL: 5, Type: "A", Data: "10.88.0.2", Pod: "default/web-0", Service: "default/nginx"},
		{Name: "web-0.nginx.set.local.", TTL: 5, Type: "A", Data: "10.88.0.2", Pod: "default/web-0"},
		{Name: "_web._tcp.nginx.set.local.", TTL: 5, Type: "SRV", Data: "0 100 80 web-0.nginx.set.local.", Pod: "default/web-0", Service: "default/nginx"},
	}}
	tests := []struct {
		name, arg, output string
		want              string
		wantErr           string
	}{
		{"table", "", "", "NAME                         TTL   TYPE   DATA\n" +
			"nginx.set.local.             5     A      10.88.0.2\n" +
			"web-0.nginx.set.local.       5     A      10.88.0.2\n" +
			"_web._tcp.nginx.set.local.   5     SRV    0 100 80 web-0.nginx.set.local.\n", ""},
		{"wide adds the pod and service", "web-0", "wide", "NAME                         TTL   TYPE   DATA                              POD             SERVICE\n" +
			"nginx.set.local.             5     A      10.88.0.2                         default/web-0   default/nginx\n" +
			"web-0.nginx.set.local.       5     A      10.88.0.2                         default/web-0   <none>\n" +
			"_web._tcp.nginx.set.local.   5     SRV    0 100 80 web-0.nginx.set.local.   default/web-0   default/nginx\n", ""},
		{"json", "", "json", `"name": "nginx.set.local."`, ""},
		{"yaml", "", "yaml", "- data: 10.88.0.2\n", ""},
		{"a name with no records is an error", "web-9", "", "", `no DNS records for "web-9"`},
		{"-o name makes no sense", "", "name", "", "-o name is not supported"},
		{"unknown formats are refused", "", "xml", "", `unsupported output format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runGetDNS(context.Background(), client, tt.arg, tt.output, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.output == "" || tt.output == "wide" {
				if out.String() != tt.want {
					t.Errorf("output =\n%s\nwant\n%s", out.String(), tt.want)
				}
			} else if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output =\n%s\nwant it to contain %q", out.String(), tt.want)
			}
		})
	}
}
