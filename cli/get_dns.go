package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/setlet/setlet/daemon/api"
)

// dnsClient is the part of the API client `get dns` uses.
type dnsClient interface {
	DNSRecords(ctx context.Context, name string) ([]api.DNSRecord, error)
}

var _ dnsClient = (*api.Client)(nil)

// runGetDNS prints the records the daemon's DNS server answers with: all,
// or those of the pod or service called name (or of that owner name), as a
// table in zone-file order (NAME TTL TYPE DATA; -o wide adds the pod and
// service each comes from), or as JSON or YAML.
func runGetDNS(ctx context.Context, client dnsClient, name, output string, stdout io.Writer) error {
	if output == outputName {
		return fmt.Errorf("get dns: -o name is not supported: DNS records are not objects; use wide, json or yaml")
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	recs, err := client.DNSRecords(ctx, name)
	if err != nil {
		return err
	}
	if done, err := writeEncoded(stdout, output, recs); done {
		return err
	}
	if len(recs) == 0 {
		if name != "" {
			return fmt.Errorf("no DNS records for %q", name)
		}
		_, err := io.WriteString(stdout, "No DNS records.\n")
		return err
	}
	t := newTableWriter(stdout)
	cols := []string{"NAME", "TTL", "TYPE", "DATA"}
	if output == outputWide {
		cols = append(cols, "POD", "SERVICE")
	}
	writeRow(t, cols)
	for _, r := range recs {
		row := []string{r.Name, strconv.Itoa(r.TTL), r.Type, r.Data}
		if output == outputWide {
			row = append(row, orNone(r.Pod), orNone(r.Service))
		}
		writeRow(t, row)
	}
	return t.flush()
}
