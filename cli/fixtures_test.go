package cli

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/daemon/api"
)

// update rewrites the golden files: go test ./cli -run TestX -update.
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with testdata/name.golden (or writes it with
// -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// testNow is the time every fixture is seen at.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-d)) }

func ptrTo[T any](v T) *T { return &v }

// testPod is a pod of set web with one container, created an hour ago.
func testPod(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default", CreationTimestamp: ago(time.Hour),
			Labels: map[string]string{"app": "nginx", "statefulset.kubernetes.io/pod-name": name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: ptrTo(true),
			}},
		},
		Spec: corev1.PodSpec{
			Hostname:  name,
			Subdomain: "nginx",
			Containers: []corev1.Container{{
				Name: "web", Image: "setlet.local/busybox:1",
				Command: []string{"sh", "-c", "exec httpd -f -p 80 -h /www"},
				Ports:   []corev1.ContainerPort{{Name: "web", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("web"), Scheme: corev1.URISchemeHTTP}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				},
				Env:          []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/www"}},
			}},
			Volumes: []corev1.Volume{{Name: "www", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "www-" + name},
			}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	if mutate != nil {
		mutate(pod)
	}
	return pod
}

// running makes pod's container run since start, ready or not, with the
// pod conditions that go with it.
func running(pod *corev1.Pod, ready bool, start time.Duration) {
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = "10.88.0.5"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.88.0.5"}}
	pod.Status.HostIP = "192.168.1.10"
	pod.Status.StartTime = ptrTo(ago(time.Hour))
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: readyStatus},
		{Type: corev1.ContainersReady, Status: readyStatus},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "web", Ready: ready, Started: ptrTo(true), Image: "setlet.local/busybox:1",
		ImageID: "sha256:0123456789abcdef", ContainerID: "containerd://web-0-web-1",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(start)}},
	}}
}

// testPods are pods in every state kubectl's STATUS column names.
func testPods() []*corev1.Pod {
	return []*corev1.Pod{
		testPod("pending-0", nil),
		testPod("creating-0", func(p *corev1.Pod) {
			p.CreationTimestamp = ago(5 * time.Second)
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}),
		testPod("web-0", func(p *corev1.Pod) { running(p, true, time.Hour) }),
		testPod("web-1", func(p *corev1.Pod) { running(p, false, 30*time.Second) }),
		testPod("crash-0", func(p *corev1.Pod) {
			running(p, false, time.Hour)
			st := &p.Status.ContainerStatuses[0]
			st.RestartCount = 5
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container"}}
			st.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", StartedAt: ago(150 * time.Second), FinishedAt: ago(2 * time.Minute)}}
		}),
		testPod("leaving-0", func(p *corev1.Pod) {
			running(p, true, time.Hour)
			p.DeletionTimestamp = ptrTo(ago(3 * time.Second))
			p.DeletionGracePeriodSeconds = ptrTo(int64(10))
		}),
		testPod("init-0", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "setlet.local/busybox:1", Command: []string{"sh", "-c", "sleep 5"}}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "setup",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Second)}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}),
		testPod("done-0", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: ago(time.Minute)}}}}
		}),
		testPod("failed-0", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", FinishedAt: ago(time.Minute)}}}}
		}),
	}
}

// testSet is set web: 3 replicas, 2 ready, one claim template.
func testSet() *appsv1.StatefulSet {
	spec := testPod("x", nil).Spec
	spec.Hostname, spec.Subdomain, spec.Volumes = "", "", nil
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(26 * time.Hour),
			Labels: map[string]string{"app": "nginx"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptrTo(int32(3)),
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
				Spec:       spec,
			},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptrTo(int32(0))}},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
		Status: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, CurrentReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2},
	}
}

// testVolume is the volume of claim www of pod name, as the daemon shows
// it.
func testVolume(name string) *corev1.PersistentVolumeClaim {
	q := resource.MustParse("1Gi")
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(26 * time.Hour),
			Annotations: map[string]string{api.VolumePathAnnotation: "/var/lib/setlet/volumes/" + name},
			Labels:      map[string]string{"app": "nginx"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeName:  name,
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: q}},
	}
}

// testService is the headless Service nginx.
func testService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "default", CreationTimestamp: ago(26 * time.Hour)},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"},
			Selector: map[string]string{"app": "nginx"},
			Ports:    []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
		},
	}
}

// testEvent is an event about kind/name, seen at ago.
func testEvent(seq int, kind, name, typ, reason, message string, at time.Duration) corev1.Event {
	t := ago(at)
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name + "." + string(rune('a'+seq)), Namespace: "default", CreationTimestamp: t},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: "default", Name: name},
		Type:           typ, Reason: reason, Message: message, Count: 1,
		FirstTimestamp: t, LastTimestamp: t, EventTime: metav1.NewMicroTime(t.Time),
		Source: corev1.EventSource{Component: "setlet"}, ReportingController: "setlet", ReportingInstance: "setlet",
	}
}

func testEvents() []corev1.Event {
	return []corev1.Event{
		testEvent(0, "StatefulSet", "web", "Normal", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful", 50*time.Minute),
		testEvent(1, "Pod", "web-0", "Normal", "Started", "Started container web", 49*time.Minute),
		testEvent(2, "Pod", "web-1", "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503\nsecond line", 30*time.Second),
	}
}
