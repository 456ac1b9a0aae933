package daemon

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodResolvConf(t *testing.T) {
	host := parseResolvConf([]byte("# host\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"))
	cluster := clusterDNS{Server: "10.88.0.1", Zone: "set.local", ClusterDomain: "cluster.local"}
	five := "5"
	pod := func(policy corev1.DNSPolicy, cfg *corev1.PodDNSConfig) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
			Spec:       corev1.PodSpec{Hostname: "web-1", Subdomain: "nginx", DNSPolicy: policy, DNSConfig: cfg},
		}
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		cluster clusterDNS
		want    string
	}{
		{"ClusterFirst uses the daemon's server and the set's search path", pod(corev1.DNSClusterFirst, nil), cluster,
			"nameserver 10.88.0.1\nsearch nginx.set.local set.local default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:2\n"},
		{"no policy is ClusterFirst", pod("", nil), cluster,
			"nameserver 10.88.0.1\nsearch nginx.set.local set.local default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:2\n"},
		{"dnsConfig merges in, a later option replacing the default", pod(corev1.DNSClusterFirst, &corev1.PodDNSConfig{
			Nameservers: []string{"192.0.2.9"}, Searches: []string{"extra.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}, {Name: "rotate"}}}), cluster,
			"nameserver 10.88.0.1\nnameserver 192.0.2.9\nsearch nginx.set.local set.local default.svc.cluster.local svc.cluster.local cluster.local extra.example\noptions ndots:5 rotate\n"},
		{"Default uses the host's resolvers, loopback stubs left out", pod(corev1.DNSDefault, nil), cluster,
			"nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"},
		{"None uses dnsConfig only", pod(corev1.DNSNone, &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.7"}}), cluster,
			"nameserver 192.0.2.7\n"},
		{"without a DNS server ClusterFirst falls back to the host", pod(corev1.DNSClusterFirst, nil), clusterDNS{},
			"nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(podResolvConf(tt.pod, host, tt.cluster)); got != tt.want {
				t.Errorf("resolv.conf =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
