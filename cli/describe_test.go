package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
)

// TestDescribeSet checks describe set against kubectl's layout, with the
// reason the set waits near the top.
func TestDescribeSet(t *testing.T) {
	var pods []corev1.Pod
	for _, p := range testPods()[2:4] {
		pods = append(pods, *p)
	}
	vols := []corev1.PersistentVolumeClaim{*testVolume("www-web-0"), *testVolume("www-web-1")}
	var b bytes.Buffer
	err := describeSet(&b, testSet(), pods, vols, testEvents()[:1],
		"waiting for web-1 to become Ready: readiness probe failed: HTTP 503", testNow)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "describe-set", b.String())
}

// TestDescribePod checks describe pod for a pod that is not Ready, one in
// a crash loop and one terminating.
func TestDescribePod(t *testing.T) {
	pods := map[string]*corev1.Pod{}
	for _, p := range testPods() {
		pods[p.Name] = p
	}
	tests := []struct {
		pod      string
		waiting  string
		dnsNames []string
		events   []corev1.Event
	}{
		{"web-1", "not Ready: readiness probe failed: HTTP 503", []string{"web-1.nginx.set.local", "web-1.nginx.default.svc.cluster.local"}, testEvents()[2:]},
		{"crash-0", "", nil, nil},
		{"leaving-0", "", nil, nil},
		{"init-0", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pod, func(t *testing.T) {
			var b bytes.Buffer
			if err := describePod(&b, pods[tt.pod], tt.events, tt.waiting, tt.dnsNames, testNow); err != nil {
				t.Fatal(err)
			}
			golden(t, "describe-pod-"+tt.pod, b.String())
		})
	}
}

// TestDescribeRaw checks that the daemon's describe answer is decoded
// into the Kubernetes types.
func TestDescribeRaw(t *testing.T) {
	raw := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pod := testPods()[3]
	var decoded bytes.Buffer
	if err := describeRaw(&decoded, "pods", api.RawDescribe{Object: raw(pod), Events: raw(testEvents()[2:]), Waiting: "not Ready"}, testNow); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Name:         web-1\n", "Waiting:      not Ready\n", "  Warning  Unhealthy  30s   setlet  Readiness probe failed"} {
		if !bytes.Contains(decoded.Bytes(), []byte(want)) {
			t.Errorf("describe of a decoded pod lacks %q:\n%s", want, decoded.String())
		}
	}
	set := testSet()
	decoded.Reset()
	err := describeRaw(&decoded, "sets", api.RawDescribe{Object: raw(set), Pods: raw([]*corev1.Pod{pod}), Volumes: json.RawMessage("null")}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(decoded.Bytes(), []byte("Pods Status:        1 Running / 0 Waiting / 0 Succeeded / 0 Failed\n")) {
		t.Errorf("describe of a decoded set:\n%s", decoded.String())
	}
	if err := describeRaw(&decoded, "pods", api.RawDescribe{Object: json.RawMessage("{")}, time.Now()); err == nil {
		t.Error("bad JSON was accepted")
	}
}
