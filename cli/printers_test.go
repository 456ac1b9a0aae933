package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestSummarizePod checks READY, STATUS and RESTARTS for a pod in every
// state, against what kubectl prints for the same pod.
func TestSummarizePod(t *testing.T) {
	want := map[string]podSummary{
		"pending-0":  {"0/1", "Pending", "0"},
		"creating-0": {"0/1", "ContainerCreating", "0"},
		"web-0":      {"1/1", "Running", "0"},
		"web-1":      {"0/1", "Running", "0"},
		"crash-0":    {"0/1", "CrashLoopBackOff", "5 (2m ago)"},
		"leaving-0":  {"1/1", "Terminating", "0"},
		"init-0":     {"0/1", "Init:0/1", "0"},
		"done-0":     {"0/1", "Completed", "0"},
		"failed-0":   {"0/1", "Error", "0"},
	}
	for _, pod := range testPods() {
		t.Run(pod.Name, func(t *testing.T) {
			if got := summarizePod(pod, testNow); got != want[pod.Name] {
				t.Errorf("summarizePod = %+v, want %+v", got, want[pod.Name])
			}
		})
	}

	more := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   podSummary
	}{
		{"a failed init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "setup", RestartCount: 2,
				State:                corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, FinishedAt: ago(90 * time.Second)}}}}
		}, podSummary{"0/1", "Init:ExitCode:3", "2 (90s ago)"}},
		{"an init container in back-off", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "setup",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}, podSummary{"0/1", "Init:CrashLoopBackOff", "0"}},
		{"a ready sidecar counts", func(p *corev1.Pod) {
			running(p, true, time.Hour)
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: ptrTo(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}, podSummary{"2/2", "Running", "0"}},
		{"killed by a signal", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9}}}}
		}, podSummary{"0/1", "Signal:9", "0"}},
		{"a reason on the pod", func(p *corev1.Pod) { p.Status.Reason = "Evicted"; p.Status.Phase = corev1.PodFailed },
			podSummary{"0/1", "Evicted", "0"}},
	}
	for _, tt := range more {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarizePod(testPod("x-0", tt.mutate), testNow); got != tt.want {
				t.Errorf("summarizePod = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// printed prints objs of resource name as get does.
func printed(t *testing.T, name, format string, allNamespaces bool, objs ...object) string {
	t.Helper()
	res, ok := lookupResource(name)
	if !ok {
		t.Fatalf("no resource %q", name)
	}
	var b bytes.Buffer
	p := newObjectPrinter(res, format, allNamespaces, "edge-1", func() time.Time { return testNow }, &b)
	if err := p.printBatch(objs, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func podObjects() []object {
	var objs []object
	for _, p := range testPods() {
		objs = append(objs, p)
	}
	return objs
}

func eventObjects() []object {
	evs := testEvents()
	return []object{&evs[0], &evs[1], &evs[2]}
}

// TestTables checks every table against kubectl's layout.
func TestTables(t *testing.T) {
	tests := []struct {
		name   string
		res    string
		format string
		all    bool
		objs   []object
		want   string
	}{
		{"pods", "pods", "", false, podObjects(), `NAME         READY   STATUS              RESTARTS     AGE
pending-0    0/1     Pending             0            60m
creating-0   0/1     ContainerCreating   0            5s
web-0        1/1     Running             0            60m
web-1        0/1     Running             0            60m
crash-0      0/1     CrashLoopBackOff    5 (2m ago)   60m
leaving-0    1/1     Terminating         0            60m
init-0       0/1     Init:0/1            0            60m
done-0       0/1     Completed           0            60m
failed-0     0/1     Error               0            60m
`},
		{"pods wide", "pods", "wide", false, podObjects()[2:4], `NAME    READY   STATUS    RESTARTS   AGE   IP          NODE     NOMINATED NODE   READINESS GATES
web-0   1/1     Running   0          60m   10.88.0.5   edge-1   <none>           <none>
web-1   0/1     Running   0          60m   10.88.0.5   edge-1   <none>           <none>
`},
		{"pods of all namespaces", "pods", "", true, podObjects()[2:3], `NAMESPACE   NAME    READY   STATUS    RESTARTS   AGE
default     web-0   1/1     Running   0          60m
`},
		{"sets", "sets", "", false, []object{testSet()}, `NAME   READY   AGE
web    2/3     26h
`},
		{"sets wide", "sets", "wide", false, []object{testSet()}, `NAME   READY   AGE   CONTAINERS   IMAGES
web    2/3     26h   web          setlet.local/busybox:1
`},
		{"volumes", "volumes", "", false, []object{testVolume("www-web-0"), testVolume("www-web-1")}, `NAME        STATUS   VOLUME      CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE
www-web-0   Bound    www-web-0   1Gi        RWO                           <unset>                 26h
www-web-1   Bound    www-web-1   1Gi        RWO                           <unset>                 26h
`},
		{"volumes wide", "pvc", "wide", false, []object{testVolume("www-web-0")}, `NAME        STATUS   VOLUME      CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE   VOLUMEMODE   PATH
www-web-0   Bound    www-web-0   1Gi        RWO                           <unset>                 26h   <unset>      /var/lib/setlet/volumes/www-web-0
`},
		{"services", "svc", "", false, []object{testService()}, `NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE
nginx   ClusterIP   None         <none>        80/TCP    26h
`},
		{"services wide", "services", "wide", false, []object{testService()}, `NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR
nginx   ClusterIP   None         <none>        80/TCP    26h   app=nginx
`},
		{"events", "events", "", false, eventObjects(), `LAST SEEN   TYPE      REASON             OBJECT            MESSAGE
50m         Normal    SuccessfulCreate   statefulset/web   create Pod web-0 in StatefulSet web successful
49m         Normal    Started            pod/web-0         Started container web
30s         Warning   Unhealthy          pod/web-1         Readiness probe failed: HTTP probe failed with statuscode: 503...
`},
		{"events wide", "ev", "wide", false, eventObjects()[1:2], `LAST SEEN   TYPE     REASON    OBJECT      SUBOBJECT   SOURCE           MESSAGE                 FIRST SEEN   COUNT   NAME
49m         Normal   Started   pod/web-0               setlet, setlet   Started container web   49m          1       web-0.b
`},
		{"names", "sets", "name", false, []object{testSet()}, "statefulset.apps/web\n"},
		{"nothing", "pods", "", false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := printed(t, tt.res, tt.format, tt.all, tt.objs...); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestJSONList checks -o json: a v1 List exactly as kubectl prints it,
// with apiVersion and kind in the items and keys sorted.
func TestJSONList(t *testing.T) {
	got := printed(t, "pods", "json", false, podObjects()[2])
	golden(t, "pods.json", got)
	var list struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Items      []corev1.Pod
		Metadata   map[string]string
	}
	if err := json.Unmarshal([]byte(got), &list); err != nil {
		t.Fatal(err)
	}
	pod := list.Items[0]
	if list.Kind != "List" || list.APIVersion != "v1" || list.Metadata["resourceVersion"] != "" ||
		pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Status.PodIP != "10.88.0.5" ||
		len(pod.Status.ContainerStatuses) != 1 || len(pod.Status.Conditions) != 4 {
		t.Errorf("list = %+v", list)
	}
	if !strings.HasPrefix(got, "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n") {
		t.Errorf("not kubectl's layout:\n%s", got)
	}

	if empty := printed(t, "sets", "json", false); empty != "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n" {
		t.Errorf("empty list:\n%s", empty)
	}
}

// TestYAMLObjects checks -o yaml for one object and the "---" between
// objects printed one at a time, as in a watch.
func TestYAMLObjects(t *testing.T) {
	res, _ := lookupResource("sets")
	var b bytes.Buffer
	p := newObjectPrinter(res, "yaml", false, "", func() time.Time { return testNow }, &b)
	if err := p.printBatch([]object{testSet()}, true); err != nil {
		t.Fatal(err)
	}
	if err := p.printObject(testSet()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.HasPrefix(got, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n") || strings.Count(got, "\n---\n") != 1 {
		t.Errorf("yaml:\n%s", got)
	}
	golden(t, "set.yaml", got[:strings.Index(got, "---\n")])
}

// TestWatchRowsLineUp checks that rows printed after the table keep its
// column widths, as kubectl's watch does.
func TestWatchRowsLineUp(t *testing.T) {
	res, _ := lookupResource("pods")
	var b bytes.Buffer
	p := newObjectPrinter(res, "", false, "", func() time.Time { return testNow }, &b)
	pods := testPods()
	if err := p.printBatch([]object{pods[4]}, false); err != nil {
		t.Fatal(err)
	}
	if err := p.printObject(pods[2]); err != nil {
		t.Fatal(err)
	}
	want := `NAME      READY   STATUS             RESTARTS     AGE
crash-0   0/1     CrashLoopBackOff   5 (2m ago)   60m
web-0     1/1     Running            0            60m
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 4404019: "4.2 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
