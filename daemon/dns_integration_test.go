package daemon_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/internal/testenv"
)

// dnsSets are the objects of TestDNS: the seeds' headless Service (with a
// named port, for SRV) and a 2-replica set whose readiness follows a file
// in its volume; a Service that publishes not-ready pods, with a set that
// is never Ready; a set whose serviceName names no applied Service.
const dnsSets = `apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: web, port: 80}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: setlet.local/busybox:1
        command: [sh, -c, 'mkdir -p /tmp/www; touch /tmp/www/ready; trap "exit 0" TERM; httpd -f -p 80 -h /tmp/www & wait']
        ports:
        - {name: web, containerPort: 80}
        readinessProbe:
          httpGet: {path: /ready, port: web}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: db}
  ports:
  - {name: pg, port: 5432, targetPort: 15432}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  podManagementPolicy: Parallel
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: setlet.local/busybox:1
        command: [sleep, '3600']
        readinessProbe:
          exec: {command: ['false']}
          periodSeconds: 1
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: solo
spec:
  serviceName: ghost
  replicas: 1
  selector:
    matchLabels: {app: solo}
  template:
    metadata:
      labels: {app: solo}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: solo
        image: setlet.local/busybox:1
        command: [sleep, '3600']
`

// TestDNS runs the daemon with its DNS server on a loopback port and an
// upstream server of the test's own, and checks the records from the host
// with dig (protocol details) and from inside a pod with busybox nslookup
// (the pod's resolv.conf and search path), as pods come, turn NotReady and
// Ready again, and are recreated.
func TestDNS(t *testing.T) {
	t.Parallel()
	testenv.RequireBinary(t, "dig", "dnsutils")
	upstream := startUpstream(t, map[string]string{"upstream.example.": "192.0.2.10"})
	h := startDaemonWith(t, func(cfg *configs.DaemonConfig) {
		cfg.DNSListen = []string{"127.0.0.1:0"}
		cfg.DNSUpstreams = []string{upstream}
	})
	v, err := h.client.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var server, gateway string
	for _, a := range v.DNS {
		if strings.HasPrefix(a, "127.0.0.1:") {
			server = a
		} else {
			gateway = strings.TrimSuffix(a, ":53")
		}
	}
	if server == "" || gateway == "" {
		t.Fatalf("DNS listens on %v, want the gateway's port 53 and 127.0.0.1", v.DNS)
	}
	dig := func(args ...string) testenv.DigResult { t.Helper(); return testenv.Dig(t, server, args...) }

	h.apply(dnsSets)
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		return ready(pods, "web-0", "web-1", "solo-0") && pods["db-0"] != nil && pods["db-0"].Status.PodIP != "" &&
			pods["db-1"] != nil && pods["db-1"].Status.PodIP != ""
	})
	ip := h.podIPs()

	t.Run("pod names in both zones", func(t *testing.T) {
		for name, want := range map[string]string{
			"web-0.nginx.set.local":                 ip["web-0"],
			"web-1.nginx.set.local":                 ip["web-1"],
			"web-1.nginx.default.svc.cluster.local": ip["web-1"],
			"WEB-0.Nginx.SET.Local":                 ip["web-0"], // case-insensitive
			"db-1.db.set.local":                     ip["db-1"],  // not Ready, but it has an IP
			"solo-0.ghost.set.local":                ip["solo-0"],
		} {
			r := dig(name, "A")
			r.Want(t, "NOERROR", want)
		}
	})
	t.Run("service names: Ready pods, or all with publishNotReadyAddresses", func(t *testing.T) {
		dig("nginx.set.local", "A").Want(t, "NOERROR", ip["web-0"], ip["web-1"])
		dig("nginx.default.svc.cluster.local", "A").Want(t, "NOERROR", ip["web-0"], ip["web-1"])
		dig("db.set.local", "A").Want(t, "NOERROR", ip["db-0"], ip["db-1"])
		dig("ghost.set.local", "A").Want(t, "NOERROR", ip["solo-0"])
	})
	t.Run("SRV with the targets' addresses", func(t *testing.T) {
		r := dig("_web._tcp.nginx.set.local", "SRV")
		r.Want(t, "NOERROR", "0 50 80 web-0.nginx.set.local.", "0 50 80 web-1.nginx.set.local.")
		if !slices.Contains(r.Additional, "web-0.nginx.set.local. A "+ip["web-0"]) {
			t.Errorf("SRV additional section %q lacks web-0's A record", r.Additional)
		}
		dig("_pg._tcp.db.default.svc.cluster.local", "SRV").Want(t, "NOERROR",
			"0 50 15432 db-0.db.default.svc.cluster.local.", "0 50 15432 db-1.db.default.svc.cluster.local.")
	})
	t.Run("PTR", func(t *testing.T) {
		dig("-x", ip["web-1"]).Want(t, "NOERROR", "web-1.nginx.set.local.", "web-1.nginx.default.svc.cluster.local.")
	})
	t.Run("NXDOMAIN and NODATA carry the SOA", func(t *testing.T) {
		for _, r := range []testenv.DigResult{dig("web-9.nginx.set.local", "A"), dig("nope.default.svc.cluster.local", "A")} {
			r.Want(t, "NXDOMAIN")
			r.WantSOA(t)
		}
		r := dig("web-0.nginx.set.local", "AAAA")
		r.Want(t, "NOERROR")
		r.WantSOA(t)
	})
	t.Run("names outside the zones go upstream", func(t *testing.T) {
		dig("upstream.example", "A").Want(t, "NOERROR", "192.0.2.10")
	})
	t.Run("from inside a pod, through its resolv.conf", func(t *testing.T) {
		conf, _ := h.exec("web-0", "cat", "/etc/resolv.conf")
		wantConf := "nameserver " + gateway + "\nsearch nginx.set.local set.local default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:2\n"
		if conf != wantConf {
			t.Errorf("resolv.conf =\n%s\nwant\n%s", conf, wantConf)
		}
		// busybox nslookup: the pod's server, the search list for a name
		// without dots (it tries every domain, so its exit code says
		// nothing), full names.
		for _, name := range []string{"web-1", "web-1.nginx.set.local", "web-1.nginx.default.svc.cluster.local", "nginx.default.svc.cluster.local"} {
			out, _ := h.exec("web-0", "nslookup", name)
			if !strings.Contains(out, "Address: "+ip["web-1"]) {
				t.Errorf("nslookup %s in web-0:\n%s\nwant Address: %s", name, out, ip["web-1"])
			}
		}
		// The glibc resolver (busybox-static is linked with it): search
		// list and ndots:2, as applications resolve names.
		for _, name := range []string{"web-1", "web-1.nginx", "nginx.default", "web-1.nginx.set.local", "web-1.nginx.default.svc.cluster.local"} {
			out, _ := h.exec("web-0", "ping", "-c", "1", "-W", "1", name)
			if !strings.Contains(out, "("+ip["web-1"]+")") && !(name == "nginx.default" && strings.Contains(out, "("+ip["web-0"]+")")) {
				t.Errorf("ping %s in web-0 did not resolve it to %s:\n%s", name, ip["web-1"], out)
			}
		}
		if out, code := h.exec("web-0", "nslookup", "upstream.example"); code != 0 || !strings.Contains(out, "192.0.2.10") {
			t.Errorf("nslookup upstream.example in web-0 (exit %d):\n%s", code, out)
		}
	})

	// Records change with the state that causes them: by the time the API
	// shows web-1 NotReady, it has left the service name (no waiting on
	// DNS); its own name stays while it has an IP.
	if _, code := h.exec("web-1", "rm", "/tmp/www/ready"); code != 0 {
		t.Fatal("rm /tmp/www/ready failed")
	}
	h.waitPods(timeout(t, 30*time.Second), "default", func(pods map[string]*corev1.Pod) bool { return !isReady(pods["web-1"]) })
	dig("nginx.set.local", "A").Want(t, "NOERROR", ip["web-0"])
	dig("web-1.nginx.set.local", "A").Want(t, "NOERROR", ip["web-1"])
	if _, code := h.exec("web-1", "touch", "/tmp/www/ready"); code != 0 {
		t.Fatal("touch /tmp/www/ready failed")
	}
	h.waitPods(timeout(t, 30*time.Second), "default", func(pods map[string]*corev1.Pod) bool { return ready(pods, "web-1") })
	dig("nginx.set.local", "A").Want(t, "NOERROR", ip["web-0"], ip["web-1"])

	// A name follows its pod: web-1 recreated is found at its new address.
	old, err := h.client.Pod(context.Background(), "default", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.client.DeletePod(context.Background(), "default", "web-1"); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		p := pods["web-1"]
		return p != nil && p.UID != old.UID && isReady(p)
	})
	ip = h.podIPs()
	dig("web-1.nginx.set.local", "A").Want(t, "NOERROR", ip["web-1"])
	dig("nginx.set.local", "A").Want(t, "NOERROR", ip["web-0"], ip["web-1"])

	// What the CLI shows: get dns and describe pod.
	recs, err := h.client.DNSRecords(context.Background(), "web-0")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Name+" "+r.Type+" "+r.Data)
	}
	for _, want := range []string{"web-0.nginx.set.local. A " + ip["web-0"], "nginx.set.local. A " + ip["web-0"]} {
		if !slices.Contains(got, want) {
			t.Errorf("get dns web-0 = %q, want it to contain %q", got, want)
		}
	}
	desc, err := h.client.Describe(context.Background(), "pods", "default", "web-0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(desc.DNSNames, "web-0.nginx.set.local") || !slices.Contains(desc.DNSNames, "web-0.nginx.default.svc.cluster.local") {
		t.Errorf("describe pod web-0 DNS names = %q", desc.DNSNames)
	}

	// The set whose Service was never applied is said so, once.
	n := 0
	for _, ev := range h.events() {
		if ev.Reason == "ServiceNotFound" && ev.InvolvedObject.Name == "solo" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d ServiceNotFound events for set solo, want 1", n)
	}
}

// ready says whether each named pod is Running and Ready, not terminating.
func ready(pods map[string]*corev1.Pod, names ...string) bool {
	for _, n := range names {
		p, ok := pods[n]
		if !ok || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !isReady(p) {
			return false
		}
	}
	return true
}

// podIPs returns the IP of every pod of namespace default by name.
func (h *harness) podIPs() map[string]string {
	h.t.Helper()
	pods, err := h.client.Pods(context.Background(), "default")
	if err != nil {
		h.t.Fatal(err)
	}
	ips := map[string]string{}
	for _, p := range pods {
		ips[p.Name] = p.Status.PodIP
	}
	return ips
}

// startUpstream starts a DNS server on 127.0.0.1 that answers the A
// records of names (fully qualified) and NXDOMAIN otherwise, and returns
// its address.
func startUpstream(t *testing.T, names map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		if a, ok := names[strings.ToLower(q.Name)]; ok && q.Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR(fmt.Sprintf("%s 60 IN A %s", q.Name, a))
			m.Answer = append(m.Answer, rr)
		} else if !ok {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
