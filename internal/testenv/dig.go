package testenv

import (
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// DigResult is what the host's dig (Debian's dnsutils) printed for one
// query: the response code and each section's records as
// "NAME TYPE RDATA" (class and TTL left out).
type DigResult struct {
	Command    string
	Status     string // NOERROR, NXDOMAIN, ...
	Answer     []string
	Authority  []string
	Additional []string
	Output     string
}

// Dig queries server (ADDR:PORT) with dig, one try over UDP (dig itself
// retries over TCP on a truncated answer), passing args (name, type, -x
// ADDR, +tcp...) through.
func Dig(t testing.TB, server string, args ...string) DigResult {
	t.Helper()
	RequireBinary(t, "dig", "dnsutils")
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		t.Fatalf("dig: server %q: %v", server, err)
	}
	argv := append([]string{"@" + host, "-p", port, "+tries=1", "+time=3", "+noall", "+comments", "+answer", "+authority", "+additional"}, args...)
	cmd := exec.Command("dig", argv...)
	out, err := cmd.CombinedOutput()
	r := DigResult{Command: strings.Join(cmd.Args, " "), Output: string(out)}
	if err != nil {
		t.Fatalf("%s: %v\n%s", r.Command, err, out)
	}
	var section *[]string
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.Contains(line, "->>HEADER<<-"):
			if i := strings.Index(line, "status: "); i >= 0 {
				r.Status = strings.TrimSuffix(strings.Fields(line[i+len("status: "):])[0], ",")
			}
		case strings.HasPrefix(line, ";; ANSWER SECTION"):
			section = &r.Answer
		case strings.HasPrefix(line, ";; AUTHORITY SECTION"):
			section = &r.Authority
		case strings.HasPrefix(line, ";; ADDITIONAL SECTION"):
			section = &r.Additional
		case strings.HasPrefix(line, ";"), strings.TrimSpace(line) == "":
		default:
			if f := strings.Fields(line); section != nil && len(f) >= 5 {
				*section = append(*section, f[0]+" "+f[3]+" "+strings.Join(f[4:], " "))
			}
		}
	}
	return r
}

// Want checks the response code and that the answer's RDATA are exactly
// data, in any order.
func (r DigResult) Want(t testing.TB, status string, data ...string) {
	t.Helper()
	var got []string
	for _, rr := range r.Answer {
		f := strings.SplitN(rr, " ", 3)
		got = append(got, f[2])
	}
	slices.Sort(got)
	want := slices.Clone(data)
	slices.Sort(want)
	if r.Status != status || !slices.Equal(got, want) {
		t.Errorf("%s: %s %q, want %s %q\n%s", r.Command, r.Status, got, status, want, r.Output)
	}
}

// WantSOA checks that the authority section holds an SOA record.
func (r DigResult) WantSOA(t testing.TB) {
	t.Helper()
	for _, rr := range r.Authority {
		if strings.Fields(rr)[1] == "SOA" {
			return
		}
	}
	t.Errorf("%s: no SOA in the authority section\n%s", r.Command, r.Output)
}
