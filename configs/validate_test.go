package configs_test

import (
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
)

// fullManifest is testdata/valid/full.yaml: every supported field, valid.
func fullManifest(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/valid/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// problemLines decodes manifest and returns its problems as
// "Kind name: field: message" lines, sorted.
func problemLines(t *testing.T, manifest string) []string {
	t.Helper()
	_, err := configs.Decode("m.yaml", []byte(manifest))
	if err == nil {
		return nil
	}
	var cerr *configs.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Decode: %v", err)
	}
	var lines []string
	for _, p := range cerr.Problems {
		lines = append(lines, p.Kind+" "+p.Name+": "+p.Field+": "+p.Message)
	}
	sort.Strings(lines)
	return lines
}

// TestValidateRules breaks one rule at a time in the full manifest and
// checks that exactly the expected problems are reported.
func TestValidateRules(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     []string
	}{
		// StatefulSet spec
		{"serviceName is a DNS-1035 label", "  serviceName: db\n", "  serviceName: Db\n",
			[]string{`StatefulSet db: spec.serviceName: Invalid value: "Db": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`}},
		{"revisionHistoryLimit is not negative", "  revisionHistoryLimit: 4\n", "  revisionHistoryLimit: -4\n",
			[]string{"StatefulSet db: spec.revisionHistoryLimit: Invalid value: -4: must be greater than or equal to 0"}},
		{"minReadySeconds is not negative", "  minReadySeconds: 5\n", "  minReadySeconds: -5\n",
			[]string{"StatefulSet db: spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0"}},
		{"updateStrategy type is RollingUpdate or OnDelete", "    type: RollingUpdate\n", "    type: Recreate\n",
			[]string{`StatefulSet db: spec.updateStrategy.type: Unsupported value: "Recreate": supported values: "RollingUpdate", "OnDelete"`}},
		{"maxUnavailable is an integer or a percentage", "      maxUnavailable: 50%\n", "      maxUnavailable: half\n",
			[]string{`StatefulSet db: spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "half": must be an integer or percentage (e.g '5%')`}},
		{"maxUnavailable percentage is above 0%", "      maxUnavailable: 50%\n", "      maxUnavailable: 0%\n",
			[]string{`StatefulSet db: spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "0%": must be greater than 0`}},
		{"selector expressions use known operators", "      operator: In\n", "      operator: Near\n",
			[]string{`StatefulSet db: spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator`}},
		{"generateName cannot be used", "  name: db\n  namespace: prod\n  labels:", "  name: db\n  generateName: db-\n  namespace: prod\n  labels:",
			[]string{"StatefulSet db: metadata.generateName: Forbidden: not supported: objects are applied by name; set metadata.name"}},

		// volumeClaimTemplates
		{"claim template needs a name", "  - metadata:\n      name: data\n      labels:", "  - metadata:\n      labels:",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data"`,
				`StatefulSet db: spec.template.spec.initContainers[0].volumeMounts[0].name: Not found: "data"`,
				"StatefulSet db: spec.volumeClaimTemplates[0].metadata.name: Required value",
			}},
		{"claim template names are DNS labels", "      name: data\n      labels:", "      name: Data\n      labels:",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data"`,
				`StatefulSet db: spec.template.spec.initContainers[0].volumeMounts[0].name: Not found: "data"`,
				`StatefulSet db: spec.volumeClaimTemplates[0].metadata.name: Invalid value: "Data": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			}},
		{"claim template needs an access mode", "      accessModes: [ReadWriteOnce]\n", "",
			[]string{"StatefulSet db: spec.volumeClaimTemplates[0].spec.accessModes: Required value: at least 1 access mode is required"}},
		{"claim access modes are known", "      accessModes: [ReadWriteOnce]\n", "      accessModes: [ReadWriteSometimes]\n",
			[]string{`StatefulSet db: spec.volumeClaimTemplates[0].spec.accessModes[0]: Unsupported value: "ReadWriteSometimes": supported values: "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"`}},
		{"claim storage is positive", "          storage: 10Gi\n", "          storage: \"0\"\n",
			[]string{`StatefulSet db: spec.volumeClaimTemplates[0].spec.resources.requests[storage]: Invalid value: "0": must be greater than zero`}},
		{"claims cannot bind existing volumes", "      storageClassName: local\n", "      storageClassName: local\n      volumeName: pv-1\n      selector:\n        matchLabels:\n          a: b\n      dataSource:\n        kind: VolumeSnapshot\n        name: snap\n      dataSourceRef:\n        kind: VolumeSnapshot\n        name: snap\n",
			[]string{
				"StatefulSet db: spec.volumeClaimTemplates[0].spec.dataSource: Forbidden: not supported: setlet volumes are local directories created for each ordinal",
				"StatefulSet db: spec.volumeClaimTemplates[0].spec.dataSourceRef: Forbidden: not supported: setlet volumes are local directories created for each ordinal",
				"StatefulSet db: spec.volumeClaimTemplates[0].spec.selector: Forbidden: not supported: setlet volumes are local directories created for each ordinal",
				"StatefulSet db: spec.volumeClaimTemplates[0].spec.volumeName: Forbidden: not supported: setlet volumes are local directories created for each ordinal",
			}},

		// pod spec
		{"dnsPolicy is known", "      dnsPolicy: ClusterFirst\n", "      dnsPolicy: Cluster\n",
			[]string{`StatefulSet db: spec.template.spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`}},
		{"dnsPolicy None needs nameservers", "      dnsPolicy: ClusterFirst\n      dnsConfig:\n        nameservers: [10.88.0.1]\n", "      dnsPolicy: None\n      dnsConfig:\n",
			[]string{"StatefulSet db: spec.template.spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when dnsPolicy is None"}},
		{"nameservers are IPs", "        nameservers: [10.88.0.1]\n", "        nameservers: [ns1]\n",
			[]string{`StatefulSet db: spec.template.spec.dnsConfig.nameservers[0]: Invalid value: "ns1": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`}},
		{"searches are domains", "        searches: [db.set.local]\n", "        searches: [db_set]\n",
			[]string{`StatefulSet db: spec.template.spec.dnsConfig.searches[0]: Invalid value: "db_set": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
		{"host aliases are IPs and names", "      - ip: 10.88.0.9\n        hostnames: [backup.local]\n", "      - ip: 10.88.0\n        hostnames: [Backup]\n",
			[]string{
				`StatefulSet db: spec.template.spec.hostAliases[0].hostnames[0]: Invalid value: "Backup": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
				`StatefulSet db: spec.template.spec.hostAliases[0].ip: Invalid value: "10.88.0": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`,
			}},
		{"grace period is not negative", "      terminationGracePeriodSeconds: 20\n", "      terminationGracePeriodSeconds: -1\n",
			[]string{"StatefulSet db: spec.template.spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"}},
		{"pods run on Linux", "      dnsPolicy: ClusterFirst\n", "      dnsPolicy: ClusterFirst\n      os:\n        name: windows\n",
			[]string{`StatefulSet db: spec.template.spec.os.name: Unsupported value: "windows": supported values: "linux"`}},
		{"host PID and IPC namespaces are not shared", "      dnsPolicy: ClusterFirst\n", "      dnsPolicy: ClusterFirst\n      hostPID: true\n      hostIPC: true\n",
			[]string{
				"StatefulSet db: spec.template.spec.hostIPC: Forbidden: not supported by setlet: every pod gets its own namespaces",
				"StatefulSet db: spec.template.spec.hostPID: Forbidden: not supported by setlet: every pod gets its own namespaces",
			}},
		{"no ephemeral containers or resource claims in templates", "      dnsPolicy: ClusterFirst\n", "      dnsPolicy: ClusterFirst\n      ephemeralContainers:\n      - name: debug\n        image: busybox\n      resourceClaims:\n      - name: gpu\n",
			[]string{
				"StatefulSet db: spec.template.spec.ephemeralContainers: Forbidden: cannot be set in a pod template",
				"StatefulSet db: spec.template.spec.resourceClaims: Forbidden: not supported by setlet",
			}},
		{"hostname is a DNS label", "      dnsPolicy: ClusterFirst\n", "      dnsPolicy: ClusterFirst\n      hostname: My_Host\n",
			[]string{`StatefulSet db: spec.template.spec.hostname: Invalid value: "My_Host": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"pod user and group IDs are valid", "        runAsUser: 999\n        runAsGroup: 999\n        fsGroup: 999\n        supplementalGroups: [100]\n", "        runAsUser: -1\n        runAsGroup: -1\n        fsGroup: -1\n        supplementalGroups: [-1]\n",
			[]string{
				"StatefulSet db: spec.template.spec.securityContext.fsGroup: Invalid value: -1: must be between 0 and 2147483647, inclusive",
				"StatefulSet db: spec.template.spec.securityContext.runAsGroup: Invalid value: -1: must be between 0 and 2147483647, inclusive",
				"StatefulSet db: spec.template.spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
				"StatefulSet db: spec.template.spec.securityContext.supplementalGroups[0]: Invalid value: -1: must be between 0 and 2147483647, inclusive",
			}},

		// containers
		{"container names are DNS labels", "      - name: exporter\n", "      - name: Exporter\n",
			[]string{`StatefulSet db: spec.template.spec.containers[1].name: Invalid value: "Exporter": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"container names are unique across init and regular containers", "      - name: exporter\n", "      - name: init-perms\n",
			[]string{`StatefulSet db: spec.template.spec.containers[1].name: Duplicate value: "init-perms"`}},
		{"container needs a name and an image", "      - name: exporter\n        image: exporter:latest\n", "      - image: \"\"\n",
			[]string{
				"StatefulSet db: spec.template.spec.containers[1].image: Required value",
				"StatefulSet db: spec.template.spec.containers[1].name: Required value",
			}},
		{"image has no surrounding spaces", "        image: exporter:latest\n", "        image: \"exporter:latest \"\n",
			[]string{`StatefulSet db: spec.template.spec.containers[1].image: Invalid value: "exporter:latest ": must not have leading or trailing whitespace`}},
		{"termination message policy is known", "        image: exporter:latest\n", "        image: exporter:latest\n        terminationMessagePolicy: Never\n",
			[]string{`StatefulSet db: spec.template.spec.containers[1].terminationMessagePolicy: Unsupported value: "Never": supported values: "File", "FallbackToLogsOnError"`}},
		{"port names, protocols, host ports and host IPs are valid", "        - name: pg-host\n          containerPort: 5433\n          hostPort: 15432\n          hostIP: 127.0.0.1\n", "        - name: Pg_Host\n          containerPort: 5433\n          hostPort: 70000\n          hostIP: localhost\n          protocol: ICMP\n",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].ports[1].hostIP: Invalid value: "localhost": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`,
				"StatefulSet db: spec.template.spec.containers[0].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
				`StatefulSet db: spec.template.spec.containers[0].ports[1].name: Invalid value: "Pg_Host": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
				`StatefulSet db: spec.template.spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`,
			}},
		{"container port is required", "        - name: metrics\n          containerPort: 9187\n", "        - name: metrics\n",
			[]string{"StatefulSet db: spec.template.spec.containers[1].ports[0].containerPort: Required value"}},
		{"a host port is published once per pod", "        - name: metrics\n          containerPort: 9187\n", "        - name: metrics\n          containerPort: 9187\n          hostPort: 15432\n          hostIP: 127.0.0.1\n",
			[]string{`StatefulSet db: spec.template.spec.containers[1].ports[0].hostPort: Duplicate value: "15432/TCP"`}},
		{"env names are printable and present", "        - name: PLAIN\n          value: \"1\"\n", "        - name: \"A=B\"\n        - value: x\n",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].env[5].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
				"StatefulSet db: spec.template.spec.containers[0].env[6].name: Required value",
			}},
		{"valueFrom has exactly one source", "        - name: PLAIN\n          value: \"1\"\n", "        - name: NONE\n          valueFrom: {}\n        - name: TWO\n          valueFrom:\n            fieldRef:\n              fieldPath: metadata.name\n            secretKeyRef:\n              name: s\n              key: k\n        - name: FILE\n          valueFrom:\n            fileKeyRef:\n              volumeName: v\n              path: p\n              key: k\n",
			[]string{
				"StatefulSet db: spec.template.spec.containers[0].env[5].valueFrom: Invalid value: must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
				"StatefulSet db: spec.template.spec.containers[0].env[6].valueFrom: Invalid value: may not have more than one field specified at a time",
				"StatefulSet db: spec.template.spec.containers[0].env[7].valueFrom.fileKeyRef: Forbidden: not supported by setlet",
			}},
		{"resource field refs name a known resource", "              resource: limits.memory\n", "              resource: limits.gpu\n",
			[]string{`StatefulSet db: spec.template.spec.containers[0].env[2].valueFrom.resourceFieldRef.resource: Unsupported value: "limits.gpu": supported values: "limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage"`}},
		{"key refs need a valid name and key", "              name: db-conf\n              key: postgresql.conf\n", "              name: \"\"\n              key: a/b\n",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].env[3].valueFrom.configMapKeyRef.key: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
				"StatefulSet db: spec.template.spec.containers[0].env[3].valueFrom.configMapKeyRef.name: Required value",
			}},
		{"envFrom has exactly one source and a valid prefix", "        - secretRef:\n            name: db-secret\n", "        - secretRef:\n            name: db-secret\n          configMapRef:\n            name: Db\n          prefix: \"A=\"\n        - {}\n",
			[]string{
				"StatefulSet db: spec.template.spec.containers[0].envFrom[1]: Invalid value: may not have more than one field specified at a time",
				`StatefulSet db: spec.template.spec.containers[0].envFrom[1].configMapRef.name: Invalid value: "Db": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
				`StatefulSet db: spec.template.spec.containers[0].envFrom[1].prefix: Invalid value: "A=": a valid environment variable name must consist only of printable ASCII characters other than '='`,
				"StatefulSet db: spec.template.spec.containers[0].envFrom[2]: Invalid value: must specify one of: `configMapRef` or `secretRef`",
			}},
		{"only cpu, memory and ephemeral-storage, never negative", "            ephemeral-storage: 2Gi\n", "            ephemeral-storage: -2Gi\n            nvidia.com/gpu: \"1\"\n",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].resources.limits[ephemeral-storage]: Invalid value: "-2Gi": must be greater than or equal to 0`,
				`StatefulSet db: spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: Unsupported value: "nvidia.com/gpu": supported values: "cpu", "memory", "ephemeral-storage"`,
			}},
		{"mount paths are unique and mounts need a name", "        - name: scratch\n          mountPath: /tmp\n", "        - name: scratch\n          mountPath: /etc/all/\n        - name: \"\"\n          mountPath: \"\"\n",
			[]string{
				"StatefulSet db: spec.template.spec.containers[0].volumeMounts[5].mountPath: Invalid value: \"/etc/all/\": must be unique",
				"StatefulSet db: spec.template.spec.containers[0].volumeMounts[6].mountPath: Required value",
				"StatefulSet db: spec.template.spec.containers[0].volumeMounts[6].name: Required value",
			}},
		{"subPathExpr excludes subPath; propagation is known", "          subPath: pgdata\n", "          subPath: pgdata\n          subPathExpr: $(POD_NAME)\n          mountPropagation: Sideways\n",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].volumeMounts[0].mountPropagation: Unsupported value: "Sideways": supported values: "None", "HostToContainer", "Bidirectional"`,
				`StatefulSet db: spec.template.spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: "$(POD_NAME)": subPathExpr and subPath are mutually exclusive`,
			}},
		{"volumes are directories, not devices", "          mountPropagation: HostToContainer\n", "          mountPropagation: HostToContainer\n        volumeDevices:\n        - name: data\n          devicePath: /dev/xvda\n",
			[]string{"StatefulSet db: spec.template.spec.containers[0].volumeDevices: Forbidden: not supported by setlet: volumes are directories, not block devices"}},
		{"probe timings are not negative", "          initialDelaySeconds: 2\n          timeoutSeconds: 2\n", "          initialDelaySeconds: -2\n          timeoutSeconds: -2\n          periodSeconds: -1\n          failureThreshold: -1\n",
			[]string{
				"StatefulSet db: spec.template.spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0",
				"StatefulSet db: spec.template.spec.containers[0].readinessProbe.initialDelaySeconds: Invalid value: -2: must be greater than or equal to 0",
				"StatefulSet db: spec.template.spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
				"StatefulSet db: spec.template.spec.containers[0].readinessProbe.timeoutSeconds: Invalid value: -2: must be greater than or equal to 0",
			}},
		{"exec probes need a command", "            command: [pg_isready]\n", "            command: []\n",
			[]string{"StatefulSet db: spec.template.spec.containers[0].readinessProbe.exec.command: Required value"}},
		{"http probes use HTTP or HTTPS and valid header names", "            scheme: HTTP\n            httpHeaders:\n            - name: X-Probe\n", "            scheme: FTP\n            httpHeaders:\n            - name: \"X Probe\"\n",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].livenessProbe.httpGet.httpHeaders[0].name: Invalid value: "X Probe": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')`,
				`StatefulSet db: spec.template.spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"`,
			}},
		{"probe grace period is positive", "          terminationGracePeriodSeconds: 5\n", "          terminationGracePeriodSeconds: 0\n",
			[]string{"StatefulSet db: spec.template.spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0"}},
		{"probe ports are valid numbers or names", "          tcpSocket:\n            port: pg\n", "          tcpSocket:\n            port: -pg\n",
			[]string{`StatefulSet db: spec.template.spec.containers[0].startupProbe.tcpSocket.port: Invalid value: "-pg": must not begin or end with a hyphen`}},
		{"grpc probe ports are port numbers", "          grpc:\n            port: 9187\n", "          grpc:\n            port: 0\n",
			[]string{"StatefulSet db: spec.template.spec.containers[1].readinessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive"}},
		{"lifecycle hooks have one valid handler", "            sleep:\n              seconds: 2\n", "            sleep:\n              seconds: -2\n            tcpSocket:\n              port: 70000\n",
			[]string{
				"StatefulSet db: spec.template.spec.containers[0].lifecycle.preStop: Forbidden: may not specify more than 1 handler type",
				"StatefulSet db: spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: -2: must be greater than or equal to 0",
				"StatefulSet db: spec.template.spec.containers[0].lifecycle.preStop.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive",
			}},
		{"lifecycle hooks need a handler", "          postStart:\n            exec:\n              command: [sh, -c, \"echo started\"]\n", "          postStart: {}\n",
			[]string{"StatefulSet db: spec.template.spec.containers[0].lifecycle.postStart: Required value: must specify a handler type"}},
		{"security context is consistent", "          allowPrivilegeEscalation: false\n          capabilities:\n            add: [NET_BIND_SERVICE]\n", "          allowPrivilegeEscalation: false\n          privileged: true\n          procMount: Masked\n          runAsGroup: -3\n          capabilities:\n            add: [net admin]\n",
			[]string{
				"StatefulSet db: spec.template.spec.containers[0].securityContext: Invalid value: cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
				`StatefulSet db: spec.template.spec.containers[0].securityContext.capabilities.add[0]: Invalid value: "net admin": must be a Linux capability such as NET_ADMIN or CAP_NET_ADMIN, or ALL`,
				`StatefulSet db: spec.template.spec.containers[0].securityContext.procMount: Unsupported value: "Masked": supported values: "Default", "Unmasked"`,
				"StatefulSet db: spec.template.spec.containers[0].securityContext.runAsGroup: Invalid value: -3: must be between 0 and 2147483647, inclusive",
			}},
		{"init containers have no hooks and no sidecar restart policy", "        command: [sh, -c, \"chown 999 /data\"]\n", "        command: [sh, -c, \"chown 999 /data\"]\n        restartPolicy: Always\n        lifecycle:\n          preStop:\n            sleep:\n              seconds: 1\n",
			[]string{
				"StatefulSet db: spec.template.spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers",
				"StatefulSet db: spec.template.spec.initContainers[0].restartPolicy: Forbidden: not supported by setlet yet: sidecar containers (an init container with restartPolicy Always)",
			}},
		{"regular containers have no restart policy of their own", "        image: exporter:latest\n", "        image: exporter:latest\n        restartPolicy: Always\n",
			[]string{"StatefulSet db: spec.template.spec.containers[1].restartPolicy: Forbidden: may not be set for non-init containers"}},

		// volumes
		{"volume names are unique and present", "      - name: scratch\n        emptyDir:\n", "      - name: conf\n        emptyDir:\n",
			[]string{
				`StatefulSet db: spec.template.spec.containers[0].volumeMounts[5].name: Not found: "scratch"`,
				`StatefulSet db: spec.template.spec.volumes[4].name: Duplicate value: "conf"`,
			}},
		{"emptyDir medium and size are valid", "          medium: Memory\n          sizeLimit: 64Mi\n", "          medium: HugePages\n          sizeLimit: -64Mi\n",
			[]string{
				`StatefulSet db: spec.template.spec.volumes[4].emptyDir.medium: Unsupported value: "HugePages": supported values: "", "Memory"`,
				`StatefulSet db: spec.template.spec.volumes[4].emptyDir.sizeLimit: Invalid value: "-64Mi": must be greater than or equal to 0`,
			}},
		{"hostPath is absolute with a known type", "          path: /var/log\n          type: Directory\n", "          path: var/log\n          type: Folder\n",
			[]string{
				`StatefulSet db: spec.template.spec.volumes[5].hostPath.path: Invalid value: "var/log": must be an absolute path`,
				`StatefulSet db: spec.template.spec.volumes[5].hostPath.type: Unsupported value: "Folder": supported values: "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"`,
			}},
		{"configMap volumes name their map and items", "          name: db-conf\n          items:\n          - key: postgresql.conf\n            path: postgresql.conf\n            mode: 0444\n", "          items:\n          - path: \"\"\n            mode: 01000\n",
			[]string{
				"StatefulSet db: spec.template.spec.volumes[0].configMap.items[0].key: Required value",
				"StatefulSet db: spec.template.spec.volumes[0].configMap.items[0].mode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive",
				"StatefulSet db: spec.template.spec.volumes[0].configMap.items[0].path: Required value",
				"StatefulSet db: spec.template.spec.volumes[0].configMap.name: Required value",
			}},
		{"secret volumes name their secret", "          secretName: db-secret\n          defaultMode: 0400\n", "          defaultMode: -1\n",
			[]string{
				"StatefulSet db: spec.template.spec.volumes[1].secret.defaultMode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive",
				"StatefulSet db: spec.template.spec.volumes[1].secret.secretName: Required value",
			}},
		{"downwardAPI items use one reference and an absolute-free path", "          - path: cpu\n            resourceFieldRef:\n", "          - path: /cpu\n            fieldRef:\n              fieldPath: metadata.name\n            resourceFieldRef:\n",
			[]string{
				"StatefulSet db: spec.template.spec.volumes[2].downwardAPI.items[1]: Invalid value: fieldRef and resourceFieldRef can not be specified simultaneously",
				`StatefulSet db: spec.template.spec.volumes[2].downwardAPI.items[1].path: Invalid value: "/cpu": must be a relative path`,
			}},
		{"downwardAPI items need a reference", "          - path: labels\n            fieldRef:\n              fieldPath: metadata.labels\n", "          - path: labels\n",
			[]string{"StatefulSet db: spec.template.spec.volumes[2].downwardAPI.items[0]: Required value: one of fieldRef and resourceFieldRef is required"}},
		{"projected sources are local and single", "          - secret:\n              name: db-secret\n", "          - secret:\n              name: db-secret\n            serviceAccountToken:\n              path: token\n",
			[]string{
				"StatefulSet db: spec.template.spec.volumes[3].projected.sources[1]: Forbidden: may not specify more than 1 volume type per source",
				`StatefulSet db: spec.template.spec.volumes[3].projected.sources[1].serviceAccountToken: Unsupported value: "serviceAccountToken": supported values: "configMap", "downwardAPI", "secret"`,
			}},

		// Service, ConfigMap, Secret
		{"Service type is ClusterIP", "  clusterIP: None\n  publishNotReadyAddresses", "  clusterIP: None\n  type: LoadBalancer\n  publishNotReadyAddresses",
			[]string{`Service db: spec.type: Unsupported value: "LoadBalancer": supported values: "ClusterIP"`}},
		{"Service has no virtual IP", "  clusterIP: None\n  publishNotReadyAddresses", "  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.10]\n  publishNotReadyAddresses",
			[]string{
				`Service db: spec.clusterIP: Invalid value: "10.96.0.10": setlet serves headless Services only (clusterIP: None): each replica is reached by its own DNS name`,
				`Service db: spec.clusterIPs[0]: Invalid value: "10.96.0.10": setlet serves headless Services only (clusterIP: None): each replica is reached by its own DNS name`,
			}},
		{"Service ports are valid and uniquely named", "  - name: metrics\n    port: 9187\n    protocol: TCP\n", "  - name: pg\n    port: 0\n    protocol: ICMP\n    targetPort: 0\n  - name: Web\n    port: 80\n    targetPort: -web\n",
			[]string{
				`Service db: spec.ports[1].name: Duplicate value: "pg"`,
				"Service db: spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
				`Service db: spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`,
				"Service db: spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
				`Service db: spec.ports[2].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
				`Service db: spec.ports[2].targetPort: Invalid value: "-web": must not begin or end with a hyphen`,
			}},
		{"Service session affinity is known", "  publishNotReadyAddresses: true\n", "  publishNotReadyAddresses: true\n  sessionAffinity: Sticky\n",
			[]string{`Service db: spec.sessionAffinity: Unsupported value: "Sticky": supported values: "None", "ClientIP"`}},
		{"ConfigMap keys appear once", "binaryData:\n  blob.bin: AAEC\n", "binaryData:\n  postgresql.conf: AAEC\n",
			[]string{`ConfigMap db-conf: binaryData[postgresql.conf]: Invalid value: "postgresql.conf": duplicate of key present in data`}},
		{"basic-auth Secrets hold a username or a password", "stringData:\n  username: admin\ndata:\n  password: c2VjcmV0\n", "data:\n  user: YQ==\n",
			[]string{
				"Secret db-secret: data[password]: Required value",
				"Secret db-secret: data[username]: Required value",
			}},
		{"TLS Secrets hold a certificate and a key", "type: kubernetes.io/basic-auth\n", "type: kubernetes.io/tls\n",
			[]string{"Secret db-secret: data[tls.crt]: Required value", "Secret db-secret: data[tls.key]: Required value"}},
		{"SSH Secrets hold a private key", "type: kubernetes.io/basic-auth\n", "type: kubernetes.io/ssh-auth\n",
			[]string{"Secret db-secret: data[ssh-privatekey]: Required value"}},
		{"docker config Secrets hold JSON", "type: kubernetes.io/basic-auth\nstringData:\n  username: admin\n", "type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: \"{\"\n",
			[]string{`Secret db-secret: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": must be valid JSON`}},
		{"old docker config Secrets hold JSON too", "type: kubernetes.io/basic-auth\n", "type: kubernetes.io/dockercfg\n",
			[]string{"Secret db-secret: data[.dockercfg]: Required value"}},
		{"service account tokens need a cluster", "type: kubernetes.io/basic-auth\n", "type: kubernetes.io/service-account-token\n",
			[]string{`Secret db-secret: type: Unsupported value: "kubernetes.io/service-account-token": supported values: "Opaque", "kubernetes.io/tls", "kubernetes.io/basic-auth"`}},
		{"custom Secret types are qualified names", "type: kubernetes.io/basic-auth\n", "type: \"my type\"\n",
			[]string{`Secret db-secret: type: Invalid value: "my type": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
	}
	base := fullManifest(t)
	if lines := problemLines(t, base); len(lines) > 0 {
		t.Fatalf("full.yaml must be valid:\n%s", strings.Join(lines, "\n"))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Count(base, tt.old) != 1 {
				t.Fatalf("test bug: %q occurs %d times in full.yaml", tt.old, strings.Count(base, tt.old))
			}
			got := problemLines(t, strings.Replace(base, tt.old, tt.new, 1))
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("problems differ\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}

// TestValidateConfigMapSize checks the 1 MiB limit Kubernetes puts on
// ConfigMaps and Secrets.
func TestValidateConfigMapSize(t *testing.T) {
	big := strings.Repeat("x", corev1.MaxSecretSize)
	tests := []struct {
		name string
		obj  configs.Object
		want string
	}{
		{"ConfigMap over 1 MiB", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"k": big}},
			"data: Too long: may not be more than 1048576 bytes"},
		{"Secret over 1 MiB", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte(big + "y")}},
			"data: Too long: may not be more than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := configs.Validate(tt.obj)
			if len(errs) != 1 || errs[0].Error() != tt.want {
				t.Errorf("Validate = %v, want one error %q", errs, tt.want)
			}
		})
	}
}

// TestValidateNoContainers checks that a pod template needs a container.
func TestValidateNoContainers(t *testing.T) {
	docs, err := configs.Decode("full.yaml", []byte(fullManifest(t)))
	if err != nil {
		t.Fatal(err)
	}
	set := docs[3].Object.(*appsv1.StatefulSet)
	set.Spec.Template.Spec.Containers = nil
	errs := configs.Validate(set)
	want := "spec.template.spec.containers: Required value: at least one container is required"
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("Validate = %v, want %q", errs, want)
	}
}

// TestValidateUpdate checks which StatefulSet spec changes an update may
// make, as the API server allows them.
func TestValidateUpdate(t *testing.T) {
	docs, err := configs.Decode("full.yaml", []byte(fullManifest(t)))
	if err != nil {
		t.Fatal(err)
	}
	old := docs[3].Object.(*appsv1.StatefulSet)
	tests := []struct {
		name   string
		change func(s *appsv1.StatefulSet)
		ok     bool
	}{
		{"replicas, template, strategy and history may change", func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptrTo(int32(9))
			s.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptrTo(int32(0))
			s.Spec.RevisionHistoryLimit = ptrTo(int32(1))
			s.Spec.MinReadySeconds = 0
			s.Spec.Ordinals = nil
			s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		}, true},
		{"serviceName may not change", func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "other" }, false},
		{"podManagementPolicy may not change", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement }, false},
		{"volumeClaimTemplates may not change", func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates = nil }, false},
		{"selector may not change", func(s *appsv1.StatefulSet) { s.Spec.Selector.MatchLabels["x"] = "y" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := old.DeepCopy()
			tt.change(obj)
			errs := configs.ValidateUpdate(old, obj)
			if (len(errs) == 0) != tt.ok {
				t.Errorf("ValidateUpdate = %v, want ok=%v", errs, tt.ok)
			}
		})
	}
	if errs := configs.ValidateUpdate(&corev1.ConfigMap{}, &corev1.ConfigMap{}); errs != nil {
		t.Errorf("ConfigMaps: %v", errs)
	}
}

func ptrTo[T any](v T) *T { return &v }
